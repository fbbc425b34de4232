"""DeBERTa-v2 (and v3, which shares its type): BERT's post-LN block with disentangled attention.

Names: `encoder.layer.N.attention.self.{query,key,value}_proj`; then BERT's
`attention.output.dense`, `intermediate.dense`, `output.dense` and LayerNorms.
Quirks:
- Disentangled attention scores each pair as content-to-content q_i.k_j plus content-to-position
  terms (c2p: q_i against the key projection of the relative-distance embedding of i - j; p2c:
  k_j against the query projection of that embedding; `pos_key_proj` / `pos_query_proj` when
  not `share_att_key`). Those pair a token with a *distance*, never with another token, so they
  are positional like rotary; the attn term keeps the token-to-token part, q = `query_proj`,
  k = `key_proj`. (DeBERTa v1 fuses q/k/v in `in_proj` and is not read: the cross-check's
  reference cannot run its attention.)
- Post-LN, as BERT: no gain reads the stream before attention; the FFN reads
  `attention.output.LayerNorm`'s output.
- `embeddings.embed_proj` maps embeddings narrower than the stream (embedding_size <
  hidden_size); `embed_post` applies it. The convolution some v2 models add after layer 0
  (`encoder.conv`) mixes neighbouring positions, positional again, and is left out.
"""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("deberta-v2",)
EMBEDDING = "embeddings.word_embeddings.weight"
LAYER = "encoder.layer.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def embed_post(cfg, get, X):
    return X @ get("embeddings.embed_proj.weight").T if get.has("embeddings.embed_proj.weight") else X


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")
    a = p + "attention.self."
    q, k, v = get(a + "query_proj.weight"), get(a + "key_proj.weight"), get(a + "value_proj.weight")
    return Layer(q=q, k=k, v=v, o=get(p + "attention.output.dense.weight"),
                 up=get(p + "intermediate.dense.weight"), down=get(p + "output.dense.weight"), n_heads=h, n_kv=h,
                 ffn_gain=get(p + "attention.output.LayerNorm.weight"))
