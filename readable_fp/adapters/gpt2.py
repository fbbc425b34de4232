"""GPT-2: `h.N.attn.c_attn` fuses q, k, v, and every projection is a Conv1D whose weight is
stored `in x out` (the transpose of nn.Linear), so each is transposed here. LayerNorms `ln_1`
(before attention) and `ln_2` (before the MLP `c_fc` / `c_proj`)."""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("gpt2",)
EMBEDDING = "wte.weight"
LAYER = "h.{i}."
LAYER_COUNT = ("n_layer", "num_hidden_layers")  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "n_head", "num_attention_heads")
    q, k, v = get(p + "attn.c_attn.weight").T.chunk(3, dim=0)
    return Layer(q=q, k=k, v=v, o=get(p + "attn.c_proj.weight").T,
                 up=get(p + "mlp.c_fc.weight").T, down=get(p + "mlp.c_proj.weight").T,
                 n_heads=h, n_kv=h, attn_gain=get(p + "ln_1.weight"), ffn_gain=get(p + "ln_2.weight"))
