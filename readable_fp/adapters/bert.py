"""BERT-named encoders: bert, roberta, xlm-roberta, camembert, electra, data2vec-text, ernie, layoutlm,
roc_bert, big_bird, bert-generation, luke, rembert, roformer, tapas, yoso, mra, nystromformer;
pre-LN megatron-bert, roberta-prelayernorm, xlm-roberta-xl; GIT's causal text decoder (git).

All keep BERT's names under their own root (`roberta.`, `electra.`, ...; sentence-transformers
checkpoints drop it): `encoder.layer.N.attention.self.{query,key,value}`, `attention.output.dense`,
FFN `intermediate.dense` / `output.dense`.
Quirks:
- BERT is post-LN: each block's LayerNorm sits *after* the residual add, so no gain reads the
  stream before attention (the previous block's output LayerNorm is already in the stream); the
  FFN reads `attention.output.LayerNorm`'s output, whose gain is folded into `intermediate.dense`.
- megatron-bert, roberta-prelayernorm and xlm-roberta-xl moved the LayerNorms in front of each
  branch (pre-LN), each under its own name (`_PRE_LN`); the post-LN norms are then absent.
- Token embeddings narrower than the stream reach it through a projection, applied by
  `embed_post`: electra's and roformer's `embeddings_project` (embedding_size < hidden_size), rembert's
  `encoder.embedding_hidden_mapping_in`. roc_bert with `concat_input` maps the concatenation
  [word; shape; pronunciation] through `embeddings.map_inputs_layer`; the word embedding reaches
  the stream through its first columns (the other two are lookups of their own).
- big_bird's block-sparse attention only chooses which query/key pairs are scored (local,
  global and random blocks); each score is still q.k from the same `query` / `key`, so the
  bilinear form is BERT's.
- yoso, mra and nystromformer approximate softmax(q.k) (hashing unit-length q and k, multi-
  resolution blocks, Nystrom landmarks); the scores they approximate are BERT's q.k. roformer
  adds rotary positions, which never enter the terms.
- luke's word tokens attend through `query` / `key`; its `w2e_query`, `e2w_query`, `e2e_query`
  serve entity tokens, which the probes (word tokens) never are.
"""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("bert", "roberta", "xlm-roberta", "camembert", "electra", "data2vec-text", "ernie", "layoutlm",
            "roc_bert", "big_bird", "bert-generation", "luke", "rembert", "roformer", "tapas", "yoso", "mra",
            "nystromformer", "megatron-bert", "roberta-prelayernorm", "xlm-roberta-xl", "git")
# pre-LN families: (norm read by attention, norm read by the FFN), relative to the layer
_PRE_LN = {"megatron-bert": ("attention.ln", "ln"),
           "roberta-prelayernorm": ("attention.LayerNorm", "intermediate.LayerNorm"),
           "xlm-roberta-xl": ("attention.self_attn_layer_norm", "LayerNorm")}
EMBEDDING = "embeddings.word_embeddings.weight"
LAYER = "encoder.layer.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def embed_post(cfg, get, X):
    for name in ("embeddings_project.weight", "encoder.embedding_hidden_mapping_in.weight"):
        if get.has(name):  # present exactly when the embeddings are narrower than the stream
            return X @ get(name).T
    if get.has("embeddings.map_inputs_layer.weight"):  # roc_bert: columns [word | shape | pronunciation]
        return X @ get("embeddings.map_inputs_layer.weight")[:, :X.shape[1]].T
    return X


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")
    pre = _PRE_LN.get(cfg["model_type"])
    attn_norm, ffn_norm = pre if pre else (None, "attention.output.LayerNorm")
    a = p + "attention.self."
    return Layer(q=get(a + "query.weight"), k=get(a + "key.weight"), v=get(a + "value.weight"),
                 o=get(p + "attention.output.dense.weight"),
                 up=get(p + "intermediate.dense.weight"), down=get(p + "output.dense.weight"), n_heads=h, n_kv=h,
                 attn_gain=get(p + attn_norm + ".weight") if attn_norm else None,
                 ffn_gain=get(p + ffn_norm + ".weight"))
