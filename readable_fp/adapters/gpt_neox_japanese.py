"""GPT-NeoX-Japanese: gpt_neox_japanese - GPT-NeoX's names and per-head fused `attention.query_key_value`.

The fused projection's output is viewed as (heads, 3 * head_dim), so its rows run
[q_0; k_0; v_0; q_1; ...] and are split per head. The attention output bias lives apart
(`attention.dense_bias`, last layer only) and, like every bias, never enters the terms."""
from __future__ import annotations

from . import Layer, first, split_per_head

FAMILIES = ("gpt_neox_japanese",)
EMBEDDING = "embed_in.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")
    q, k, v = split_per_head(get(p + "attention.query_key_value.weight"), h)
    return Layer(q=q, k=k, v=v, o=get(p + "attention.dense.weight"),
                 up=get(p + "mlp.dense_h_to_4h.weight"), down=get(p + "mlp.dense_4h_to_h.weight"),
                 n_heads=h, n_kv=h, attn_gain=get(p + "input_layernorm.weight"),
                 ffn_gain=get(p + "post_attention_layernorm.weight"))
