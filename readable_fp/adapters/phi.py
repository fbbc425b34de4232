"""Phi-1 / Phi-1.5 / Phi-2: phi - a parallel block; attention output `self_attn.dense`, MLP `mlp.fc1` / `mlp.fc2`.

Quirks:
- One LayerNorm, `input_layernorm`, feeds both attention and the MLP, so its gain is folded
  into q, k, v and fc1 alike.
- With `qk_layernorm`, `q_layernorm` / `k_layernorm` are LayerNorms over head_dim shared by all
  heads: per-head gains.
- The partial rotary embedding acts inside each head and so never enters the terms.
"""
from __future__ import annotations

from . import Layer
from ._parts import gains, self_attn

FAMILIES = ("phi",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    a = self_attn(cfg, get, p, lambda name: gain(name.replace("_norm", "_layernorm")), o_name="dense")
    ln = gain("input_layernorm")
    return Layer(**a, up=get(p + "mlp.fc1.weight"), down=get(p + "mlp.fc2.weight"), attn_gain=ln, ffn_gain=ln)
