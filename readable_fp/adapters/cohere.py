"""Cohere (Command R): cohere, cohere2 - a parallel block with llama names.

Quirks:
- One LayerNorm, `input_layernorm`, feeds both attention and the MLP (x + attn(ln x) + mlp(ln x)),
  so its gain is folded into q, k, v *and* the MLP's input; there is no second norm.
- With `use_qk_norm`, Cohere's `q_norm` / `k_norm` are LayerNorms over each head whose weight
  is (heads, head_dim): a different gain per head, so it is folded into the rows of q_proj / k_proj.
"""
from __future__ import annotations

from . import Layer
from ._parts import gains, scale_rows, self_attn

FAMILIES = ("cohere", "cohere2")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    a = self_attn(cfg, get, p, lambda name: None)
    a["q"] = scale_rows(a["q"], gain("self_attn.q_norm"), f"layer {i} q_norm")
    a["k"] = scale_rows(a["k"], gain("self_attn.k_norm"), f"layer {i} k_norm")
    ln = gain("input_layernorm")
    return Layer(**a, up=get(p + "mlp.up_proj.weight"), down=get(p + "mlp.down_proj.weight"),
                 attn_gain=ln, ffn_gain=ln)
