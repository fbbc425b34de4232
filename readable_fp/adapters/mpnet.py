"""MPNet: mpnet, BERT's post-LN block with attention under `attention.attn.{q,k,v,o}`.

Names: `encoder.layer.N.attention.attn.{q,k,v,o}`, `attention.LayerNorm` (after the attention's
residual add), FFN `intermediate.dense` / `output.dense`, `output.LayerNorm`.
Quirks:
- Post-LN, as BERT: no gain reads the stream before attention; the FFN reads
  `attention.LayerNorm`'s output, whose gain is folded into `intermediate.dense`.
- A learned relative-position bias (`encoder.relative_attention_bias`, shared by all layers) is
  added to every score; it depends on distance only, not on the tokens, so the attn term (q.k)
  leaves it out as it leaves out rotary.
"""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("mpnet",)
EMBEDDING = "embeddings.word_embeddings.weight"
LAYER = "encoder.layer.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")
    a = p + "attention.attn."
    return Layer(q=get(a + "q.weight"), k=get(a + "k.weight"), v=get(a + "v.weight"), o=get(a + "o.weight"),
                 up=get(p + "intermediate.dense.weight"), down=get(p + "output.dense.weight"), n_heads=h, n_kv=h,
                 ffn_gain=get(p + "attention.LayerNorm.weight"))
