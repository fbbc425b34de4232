"""GPT-NeoX (Pythia, GPT-NeoX-20B, StableLM-alpha).

`attention.query_key_value` fuses q, k and v *per head*: its output is viewed as
(heads, 3 * head_dim) and then chunked, so the rows run [q_0; k_0; v_0; q_1; k_1; v_1; ...],
not [all q; all k; all v]. Splitting it in thirds (as for GPT-2) would pair the wrong rows.
`input_layernorm` reads the stream for attention and `post_attention_layernorm` for the MLP,
whether the residual is parallel (both read the same stream) or sequential.
"""
from __future__ import annotations

from . import Layer, first, split_per_head

FAMILIES = ("gpt_neox",)
EMBEDDING = "embed_in.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")
    q, k, v = split_per_head(get(p + "attention.query_key_value.weight"), h)
    return Layer(q=q, k=k, v=v,
                 o=get(p + "attention.dense.weight"),
                 up=get(p + "mlp.dense_h_to_4h.weight"), down=get(p + "mlp.dense_4h_to_h.weight"),
                 n_heads=h, n_kv=h, attn_gain=get(p + "input_layernorm.weight"),
                 ffn_gain=get(p + "post_attention_layernorm.weight"))
