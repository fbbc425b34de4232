"""ALBERT: albert, BERT's post-LN block shared across layers and fed by a narrow embedding.

Names: `encoder.albert_layer_groups.G.albert_layers.J.attention.{query,key,value,dense}`,
`attention.LayerNorm`, FFN `ffn` / `ffn_output`, `full_layer_layer_norm`.
Quirks:
- Layers share weights: `num_hidden_layers` layers run `num_hidden_groups` groups of weights,
  layer i running group int(i / (num_hidden_layers / num_hidden_groups)) (transformers'
  AlbertTransformer), so the terms of layer i are its group's; with one group (every released
  ALBERT) all layers have the same terms. A group of `inner_group_num` > 1 layers makes one
  layer several blocks, which one set of terms cannot hold: refused.
- `LAYER` names the group list, not one layer (the groups, not the layers, are stored).
- Post-LN, as BERT: no gain reads the stream before attention; the FFN reads
  `attention.LayerNorm`'s output.
- The embeddings (embedding_size, 128) reach the stream through
  `encoder.embedding_hidden_mapping_in`, applied by `embed_post`.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first

FAMILIES = ("albert",)
EMBEDDING = "embeddings.word_embeddings.weight"
LAYER = "encoder.albert_layer_groups."  # every layer lives in a group (see above)
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def embed_post(cfg, get, X):
    name = "encoder.embedding_hidden_mapping_in.weight"
    return X @ get(name).T if get.has(name) else X


def layer(cfg, i, get):
    n, groups = first(cfg, "num_hidden_layers"), first(cfg, "num_hidden_groups", default=1)
    if first(cfg, "inner_group_num", default=1) != 1:
        raise FingerprintError(f"albert: inner_group_num {cfg['inner_group_num']} > 1 runs several blocks per layer; "
                               "not supported")
    p = f"{LAYER}{int(i / (n / groups))}.albert_layers.0."
    h = first(cfg, "num_attention_heads")
    a = p + "attention."
    return Layer(q=get(a + "query.weight"), k=get(a + "key.weight"), v=get(a + "value.weight"),
                 o=get(a + "dense.weight"), up=get(p + "ffn.weight"), down=get(p + "ffn_output.weight"),
                 n_heads=h, n_kv=h, ffn_gain=get(a + "LayerNorm.weight"))
