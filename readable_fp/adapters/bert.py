"""BERT-style encoders (bert; sentence-transformers checkpoints drop the `bert.` prefix).

BERT is post-LN: each block's LayerNorm sits *after* the residual add, so no gain reads the
stream before attention; the FFN reads `attention.output.LayerNorm`'s output, whose gain is
folded into `intermediate.dense`. The attention output dense is `attention.output.dense`."""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("bert",)
EMBEDDING = "embeddings.word_embeddings.weight"
LAYER = "encoder.layer.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")
    return Layer(q=get(p + "attention.self.query.weight"), k=get(p + "attention.self.key.weight"),
                 v=get(p + "attention.self.value.weight"), o=get(p + "attention.output.dense.weight"),
                 up=get(p + "intermediate.dense.weight"), down=get(p + "output.dense.weight"),
                 n_heads=h, n_kv=h, ffn_gain=get(p + "attention.output.LayerNorm.weight"))
