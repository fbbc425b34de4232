"""AI2 OLMo hybrid (gated DeltaNet + OLMo 2 attention): olmo_hybrid.

Only the config's `full_attention` layers (`layer_types`) have terms; the others are gated
DeltaNet layers, recurrences with nothing that pairs two tokens.
Quirks (as OLMo 2's attention layers):
- No norm reads the stream: the norms sit on the outputs (`post_attention_layernorm`, stored
  as `feedforward_layer_norm` in AI2's checkpoints, and `post_feedforward_layernorm`).
- `q_norm` / `k_norm` normalise all heads' q (k) together, one gain per row of q_proj (k_proj),
  not per head_dim: folded into the rows themselves.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer
from ._parts import gains, layers_of_kind, self_attn

FAMILIES = ("olmo_hybrid",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def attention_layers(cfg, n):
    return layers_of_kind(cfg, n, "layer_types", ("full_attention",), ("linear_attention",))


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    attn = self_attn(cfg, get, p, lambda name: None)
    for w in ("q", "k"):
        g = gain(f"self_attn.{w}_norm")
        if g is None or g.shape != attn[w].shape[:1]:
            raise FingerprintError(f"layer {i}: self_attn.{w}_norm must have one gain per row of {w}_proj")
        attn[w] = attn[w] * g[:, None]
    o_gain = gain("post_attention_layernorm")
    return Layer(**attn, up=get(p + "mlp.up_proj.weight"), down=get(p + "mlp.down_proj.weight"),
                 o_gain=gain("feedforward_layer_norm") if o_gain is None else o_gain,
                 down_gain=gain("post_feedforward_layernorm"))
