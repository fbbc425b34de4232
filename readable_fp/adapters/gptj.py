"""GPT-J: separate `attn.{q,k,v,out}_proj` and an MLP `mlp.fc_in` / `mlp.fc_out`.

The block is parallel: a single LayerNorm `ln_1` feeds both attention and the MLP (there is
no `ln_2`), so its gain is folded into q, k, v *and* into the MLP's input weights.
GPT-J's rotary embedding (rotate-every-two on the first `rotary_dim` dims) acts inside each
head and so never enters the terms.
"""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("gptj",)
EMBEDDING = "wte.weight"
LAYER = "h.{i}."
LAYER_COUNT = ("n_layer", "num_hidden_layers")  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "n_head", "num_attention_heads")
    ln = get(p + "ln_1.weight")
    return Layer(q=get(p + "attn.q_proj.weight"), k=get(p + "attn.k_proj.weight"),
                 v=get(p + "attn.v_proj.weight"), o=get(p + "attn.out_proj.weight"),
                 up=get(p + "mlp.fc_in.weight"), down=get(p + "mlp.fc_out.weight"),
                 n_heads=h, n_kv=h, attn_gain=ln, ffn_gain=ln)
