"""Llama-block encoders: eurobert, ultrabert (bidirectional masked LMs built from Llama's layer).

Names as Llama's: `layers.N.self_attn.{q,k,v,o}_proj` (grouped kv heads), `mlp.{gate,up,down}_proj`,
RMSNorm gains `input_layernorm` (before attention) and `post_attention_layernorm` (before the FFN).
Quirk: only the attention mask differs from a decoder (every token sees every token), and the
mask never enters the terms; the tensors under `model.` (eurobert) or `ultrabert.` are read as
Llama's.
"""
from __future__ import annotations

from . import Layer
from ._parts import gains, self_attn

FAMILIES = ("eurobert", "ultrabert")
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    return Layer(**self_attn(cfg, get, p, gain), up=get(p + "mlp.up_proj.weight"), down=get(p + "mlp.down_proj.weight"),
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
