"""GPT-BigCode (SantaCoder, StarCoder 1): gpt_bigcode - GPT-2 names, nn.Linear weights, multi-query attention.

Quirks:
- Unlike GPT-2 the projections are nn.Linear (`out x in`), so nothing is transposed.
- With `multi_query` (the default) `attn.c_attn` stacks [q (all heads); k; v] with one shared
  k/v head of head_dim rows each; without it, the rows are fused *per head*
  ([q_0; k_0; v_0; q_1; ...], the output viewed as (heads, 3 * head_dim)).
- The config's `num_key_value_heads` is ignored by the model (kv heads are 1 or all), so it is here.
"""
from __future__ import annotations

from . import Layer, first, split_per_head

FAMILIES = ("gpt_bigcode",)
EMBEDDING = "wte.weight"
LAYER = "h.{i}."
LAYER_COUNT = ("n_layer", "num_hidden_layers")  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "n_head", "num_attention_heads")
    c_attn = get(p + "attn.c_attn.weight")
    d = c_attn.shape[1]
    if cfg.get("multi_query", True):
        q, k, v = c_attn.split([d, d // h, d // h], dim=0)
        kv = 1
    else:
        q, k, v = split_per_head(c_attn, h)
        kv = h
    return Layer(q=q, k=k, v=v, o=get(p + "attn.c_proj.weight"),
                 up=get(p + "mlp.c_fc.weight"), down=get(p + "mlp.c_proj.weight"),
                 n_heads=h, n_kv=kv, attn_gain=get(p + "ln_1.weight"), ffn_gain=get(p + "ln_2.weight"))
