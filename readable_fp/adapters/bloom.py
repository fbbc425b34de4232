"""BLOOM: `h.N.self_attention.query_key_value`, `self_attention.dense`, MLP
`mlp.dense_h_to_4h` / `mlp.dense_4h_to_h`, LayerNorms `input_layernorm` (attention) and
`post_attention_layernorm` (MLP).

Quirks:
- q, k, v are fused *per head*: the output is viewed as (heads, 3, head_dim), so rows run
  [q_0; k_0; v_0; q_1; ...]; splitting in thirds would pair the wrong rows.
- The token embedding reaches the stream through `word_embeddings_layernorm` (there are no
  position embeddings; ALiBi acts on the scores). `embed_post` applies that LayerNorm's
  centring, row scaling and gain (not its bias; biases never enter), so X is what the layers
  actually read. Otherwise rescaling or shifting single embedding rows, which the LayerNorm
  undoes so the model is unchanged, would change the terms.
"""
from __future__ import annotations

import torch.nn.functional as F

from . import Layer, first, split_per_head

FAMILIES = ("bloom",)
EMBEDDING = "word_embeddings.weight"
LAYER = "h.{i}."
LAYER_COUNT = ("n_layer", "num_hidden_layers")  # config keys, first present wins


def embed_post(cfg, get, X):
    if not get.has("word_embeddings_layernorm.weight"):
        return X
    g = get("word_embeddings_layernorm.weight")
    return F.layer_norm(X, (X.shape[1],), weight=g, eps=cfg.get("layer_norm_epsilon", 1e-5))


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "n_head", "num_attention_heads")
    q, k, v = split_per_head(get(p + "self_attention.query_key_value.weight"), h)
    return Layer(q=q, k=k, v=v,
                 o=get(p + "self_attention.dense.weight"),
                 up=get(p + "mlp.dense_h_to_4h.weight"), down=get(p + "mlp.dense_4h_to_h.weight"),
                 n_heads=h, n_kv=h, attn_gain=get(p + "input_layernorm.weight"),
                 ffn_gain=get(p + "post_attention_layernorm.weight"))
