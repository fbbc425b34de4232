"""BitNet b1.58: bitnet - llama names plus sub-norms inside each branch, before its output projection.

Quirks:
- `self_attn.attn_sub_norm` normalises the attention output (width heads x head_dim) just
  before `o_proj`, and `mlp.ffn_sub_norm` the FFN's activations just before `down_proj`; each
  gain multiplies the columns of that output projection, so it is folded there.
- Checkpoints saved packed (four ternary weights per uint8 byte, with a `weight_scale`) are
  refused: the terms are read from unpacked weights. The bf16 master weights read as usual
  (the ternary quantisation a forward pass applies to them is not modelled).
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer
from ._parts import gains, self_attn

FAMILIES = ("bitnet",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def _cols(W, g, where: str):
    if g is None:
        return W
    if g.shape != (W.shape[1],):
        raise FingerprintError(f"{where}: sub-norm of {tuple(g.shape)} does not fit a projection of {W.shape[1]} columns")
    return W * g[None, :]


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    if get.has(p + "self_attn.q_proj.weight_scale"):
        raise FingerprintError(f"layer {i}: packed ternary BitNet weights (uint8 with weight_scale) are not supported; "
                               "use the checkpoint's bf16 master weights")
    gain = gains(get, p)
    a = self_attn(cfg, get, p, gain)
    a["o"] = _cols(a["o"], gain("self_attn.attn_sub_norm"), f"layer {i} attn_sub_norm")
    down = _cols(get(p + "mlp.down_proj.weight"), gain("mlp.ffn_sub_norm"), f"layer {i} ffn_sub_norm")
    return Layer(**a, up=get(p + "mlp.up_proj.weight"), down=down,
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
