"""Nemotron (Nemotron-4, Minitron): nemotron - llama names, an ungated MLP (`mlp.up_proj` / `mlp.down_proj`, relu^2).

Its LayerNorm1P multiplies by (1 + weight), so the stored weight is gain - 1 (as Gemma's
RMSNorm); the partial rotary embedding acts inside each head and never enters the terms."""
from __future__ import annotations

from . import Layer
from ._parts import gains, self_attn

FAMILIES = ("nemotron",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p, plus_one=True)
    return Layer(**self_attn(cfg, get, p, gain), up=get(p + "mlp.up_proj.weight"), down=get(p + "mlp.down_proj.weight"),
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
