"""GPT-Neo: gpt_neo - GPT-2's layout with nn.Linear weights and separate `attn.attention.{q,k,v,out}_proj`.

Local (windowed) layers only restrict which positions attend; each score is still q.k from the
same projections, so every layer is read alike. LayerNorms `ln_1` / `ln_2`, MLP `mlp.c_fc` / `mlp.c_proj`."""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("gpt_neo",)
EMBEDDING = "wte.weight"
LAYER = "h.{i}."
LAYER_COUNT = ("num_layers", "num_hidden_layers")  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    a = p + "attn.attention."
    h = first(cfg, "num_heads", "num_attention_heads")
    return Layer(q=get(a + "q_proj.weight"), k=get(a + "k_proj.weight"), v=get(a + "v_proj.weight"),
                 o=get(a + "out_proj.weight"), up=get(p + "mlp.c_fc.weight"), down=get(p + "mlp.c_proj.weight"),
                 n_heads=h, n_kv=h, attn_gain=get(p + "ln_1.weight"), ffn_gain=get(p + "ln_2.weight"))
