"""DistilBERT: distilbert, BERT's post-LN block under its own names.

Names: `transformer.layer.N.attention.{q,k,v,out}_lin`, FFN `ffn.lin1` / `ffn.lin2`; the config
counts heads in `n_heads` and layers in `n_layers`.
Quirk: post-LN, as BERT: `sa_layer_norm` normalises the stream after the attention's residual
add and `output_layer_norm` after the FFN's, so no gain reads the stream before attention and
the FFN reads `sa_layer_norm`'s output (its gain folded into `lin1`).
"""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("distilbert",)
EMBEDDING = "embeddings.word_embeddings.weight"
LAYER = "transformer.layer.{i}."
LAYER_COUNT = ("n_layers", "num_hidden_layers")  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "n_heads", "num_attention_heads")
    a = p + "attention."
    return Layer(q=get(a + "q_lin.weight"), k=get(a + "k_lin.weight"), v=get(a + "v_lin.weight"),
                 o=get(a + "out_lin.weight"), up=get(p + "ffn.lin1.weight"), down=get(p + "ffn.lin2.weight"),
                 n_heads=h, n_kv=h, ffn_gain=get(p + "sa_layer_norm.weight"))
