"""Persimmon / Fuyu: persimmon (Fuyu's language model) - GPT-NeoX-like names with per-head q/k LayerNorms.

Quirks:
- `self_attn.query_key_value` fuses q, k, v *per head* (its output is viewed as
  (heads, 3, head_dim)), so the rows run [q_0; k_0; v_0; q_1; ...] and are split per head.
- `q_layernorm` / `k_layernorm` are LayerNorms over head_dim shared by all heads (per-head gains).
- Fuyu wraps the same model (config `text_config` of type persimmon, tensors under `language_model.model.`).
"""
from __future__ import annotations

from . import Layer, first, split_per_head
from ._parts import gains

FAMILIES = ("persimmon",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    h = first(cfg, "num_attention_heads")
    q, k, v = split_per_head(get(p + "self_attn.query_key_value.weight"), h)
    return Layer(q=q, k=k, v=v, o=get(p + "self_attn.dense.weight"),
                 up=get(p + "mlp.dense_h_to_4h.weight"), down=get(p + "mlp.dense_4h_to_h.weight"),
                 n_heads=h, n_kv=h, attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"),
                 q_gain=gain("self_attn.q_layernorm"), k_gain=gain("self_attn.k_layernorm"))
