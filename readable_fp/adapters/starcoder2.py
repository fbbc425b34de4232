"""StarCoder2: llama-named attention, LayerNorms with bias, and a plain (ungated) MLP `mlp.c_fc` / `mlp.c_proj`.

`input_layernorm` reads the stream for attention and `post_attention_layernorm` for the MLP
(biases, in the norms as in every projection, never enter the terms)."""
from __future__ import annotations

from . import Layer
from ._parts import gains, self_attn

FAMILIES = ("starcoder2",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    return Layer(**self_attn(cfg, get, p, gain), up=get(p + "mlp.c_fc.weight"), down=get(p + "mlp.c_proj.weight"),
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
