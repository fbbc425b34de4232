"""MiniMax-Text-01 (lightning linear attention + softmax attention, mixture of experts): minimax.

Only the config's `full_attention` layers (`layer_types`) have terms; `linear_attention` layers
(`self_attn.qkv_proj`) are lightning attention, a decayed recurrence without softmax over q.k.
Names: Mixtral's (`self_attn.{q,k,v,o}_proj`, experts `block_sparse_moe.experts.E.{w1,w2,w3}`,
w1 the gate, w3 the up, w2 the down projection; or fused 3-D), norms `input_layernorm` and
`post_attention_layernorm`.
Quirks:
- The residual is taken *after* the input norm (h = alpha * n1(x) + beta * attn(n1(x)), then
  out = alpha' * n2(h) + beta' * mlp(n2(h))), so the stream a layer writes into has already
  passed its norms, as in a post-norm model (BERT). The terms are read as for those: in the
  basis of the layer's input, the attention writes attn / g1 (o_gain 1/g1), the FFN reads
  through both gains (g1 * g2) and writes mlp / g2 (down_gain 1/g2).
- The alpha / beta factors are scalars: they scale terms without changing them.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer
from ._moe import ffn_or_experts
from ._parts import gains, layers_of_kind, self_attn

FAMILIES = ("minimax",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def attention_layers(cfg, n):
    return layers_of_kind(cfg, n, "layer_types", ("full_attention",), ("linear_attention",))


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    ffn = ffn_or_experts(cfg, get, p + "block_sparse_moe.", up="w3", down="w2", count=("num_local_experts",))
    g1, g2 = get(p + "input_layernorm.weight"), get(p + "post_attention_layernorm.weight")
    if not (bool(g1.ne(0).all()) and bool(g2.ne(0).all())):
        raise FingerprintError(f"layer {i}: a norm gain is 0, so the layer's output cannot be read in its input's basis")
    return Layer(**self_attn(cfg, get, p, gain), **ffn, attn_gain=g1, o_gain=1 / g1, ffn_gain=g1 * g2, down_gain=1 / g2)
