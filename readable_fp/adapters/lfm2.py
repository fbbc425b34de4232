"""Liquid LFM2 / LFM2-MoE / LFM3 hybrids (short convolutions + attention): lfm2, lfm2_moe, lfm3.

Only layers the config's `layer_types` marks as attention have terms; `conv` layers are gated
short convolutions with nothing that pairs two tokens.
Names: `operator_norm` reads the stream for the layer's mixer (attention or conv), `ffn_norm`
for `feed_forward`, a SwiGLU whose `w1` is the gate, `w3` the up and `w2` the down projection.
Quirks:
- LFM2 names its per-head q/k norms `q_layernorm` / `k_layernorm` and the output `out_proj`;
  LFM3 uses `q_norm` / `k_norm` / `o_proj`, and adds sandwich norms on the mixer and FFN
  outputs (`post_operator_norm`, `post_ffn_norm`) and a per-head sigmoid output gate, which
  the terms leave out as they leave out activations.
- `embedding_norm` is, despite its name, the final norm after the last layer: not a
  projection of the embeddings.
- LFM2-MoE's first `num_dense_layers` layers have a dense FFN, the rest experts (one module
  each with w1/w3/w2, or fused 3-D); the router's expert bias is a router detail, left out.
- The LFM2-VL / LFM3-VL wrappers hold the same text model.
"""
from __future__ import annotations

from . import Layer
from ._moe import ffn_or_experts
from ._parts import gains, layers_of_kind, self_attn

FAMILIES = ("lfm2", "lfm2_moe", "lfm3")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def attention_layers(cfg, n):
    return layers_of_kind(cfg, n, "layer_types", ("full_attention", "sliding_attention"), ("conv",))


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    lfm2 = get.has(p + "self_attn.out_proj.weight")
    attn = self_attn(cfg, get, p, gain, o_name="out_proj" if lfm2 else "o_proj")
    if lfm2:
        attn.update(q_gain=gain("self_attn.q_layernorm"), k_gain=gain("self_attn.k_layernorm"))
    ffn = ffn_or_experts(cfg, get, p + "feed_forward.", up="w3", down="w2")
    return Layer(**attn, **ffn, attn_gain=gain("operator_norm"), ffn_gain=gain("ffn_norm"),
                 o_gain=gain("post_operator_norm"), down_gain=gain("post_ffn_norm"))
