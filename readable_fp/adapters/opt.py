"""OPT: `decoder.layers.N.self_attn.{q,k,v,out}_proj`, MLP `fc1` / `fc2`, LayerNorms
`self_attn_layer_norm` and `final_layer_norm` (per layer; the decoder has its own
`decoder.final_layer_norm` too, hence the `layers.N.` prefix on every lookup).

Quirks:
- `do_layer_norm_before` (default true) is pre-LN: `self_attn_layer_norm` reads the stream for
  attention and `final_layer_norm` for the MLP. OPT-350m is post-LN (false): each LayerNorm sits
  after its residual add, so nothing normalises the stream before attention (no gain to fold)
  and the MLP reads `self_attn_layer_norm`'s output, as in BERT.
- OPT-350m's embeddings are narrower than the stream (`word_embed_proj_dim` 512 < 1024) and
  reach it through `decoder.project_in`; `embed_post` applies it so X lives in the stream.
- `layer_norm_elementwise_affine=false` checkpoints have no gains at all.
"""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("opt",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def embed_post(cfg, get, X):
    if get.has("project_in.weight"):  # present exactly when word_embed_proj_dim != hidden_size
        return X @ get("project_in.weight").T
    return X


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")

    def gain(name):
        return get(p + name + ".weight") if get.has(p + name + ".weight") else None

    pre = cfg.get("do_layer_norm_before", True)
    return Layer(q=get(p + "self_attn.q_proj.weight"), k=get(p + "self_attn.k_proj.weight"),
                 v=get(p + "self_attn.v_proj.weight"), o=get(p + "self_attn.out_proj.weight"),
                 up=get(p + "fc1.weight"), down=get(p + "fc2.weight"), n_heads=h, n_kv=h,
                 attn_gain=gain("self_attn_layer_norm") if pre else None,
                 ffn_gain=gain("final_layer_norm") if pre else gain("self_attn_layer_norm"))
