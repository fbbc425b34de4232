"""Falcon (also the pre-transformers `RefinedWeb` / `RefinedWebModel` configs with the same
tensor names): `h.N.self_attention.query_key_value`, `self_attention.dense`, MLP
`mlp.dense_h_to_4h` / `mlp.dense_4h_to_h`.

The fused qkv has three layouts in transformers: `new_decoder_architecture` (Falcon-40B/180B)
groups rows per kv head as [q x (H/KV), k, v]; `multi_query` (Falcon-7B) is [all q, one k,
one v]; otherwise it is per-head [q, k, v] (Falcon-RW). All three are the grouped layout with
KV = number of kv heads (KV = 1 and KV = H respectively), so one split serves them all, and
KV is read off the tensor's height (rows = (H + 2 KV) * head_dim) rather than from flags whose
defaults changed between the remote-code and transformers configs.

Norms: with `ln_attn` / `ln_mlp` (two norms in parallel) each reads the stream for its branch;
with `input_layernorm` and `post_attention_layernorm` the block is sequential; with
`input_layernorm` alone one norm feeds both attention and the MLP (parallel attention).
"""
from __future__ import annotations

from . import Layer, first
from ..errors import FingerprintError

FAMILIES = ("falcon", "RefinedWeb", "RefinedWebModel")
EMBEDDING = "word_embeddings.weight"
LAYER = "h.{i}."
LAYER_COUNT = ("num_hidden_layers", "n_layer")  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads", "n_head")
    qkv = get(p + "self_attention.query_key_value.weight")
    d = qkv.shape[1]
    hd = d // h
    kv2 = qkv.shape[0] // hd - h
    if d % h or qkv.shape[0] % hd or kv2 <= 0 or kv2 % 2 or h % (kv2 // 2):
        raise FingerprintError(f"falcon layer {i}: query_key_value {tuple(qkv.shape)} fits no layout with {h} heads")
    kv = kv2 // 2
    g = qkv.view(kv, h // kv + 2, hd, d)
    q, k, v = g[:, :-2].reshape(-1, d), g[:, -2].reshape(-1, d), g[:, -1].reshape(-1, d)

    def gain(name):
        return get(p + name + ".weight") if get.has(p + name + ".weight") else None

    if get.has(p + "ln_attn.weight"):
        attn_gain, ffn_gain = gain("ln_attn"), gain("ln_mlp")
    elif get.has(p + "post_attention_layernorm.weight"):
        attn_gain, ffn_gain = gain("input_layernorm"), gain("post_attention_layernorm")
    else:
        attn_gain = ffn_gain = gain("input_layernorm")
    return Layer(q=q, k=k, v=v, o=get(p + "self_attention.dense.weight"),
                 up=get(p + "mlp.dense_h_to_4h.weight"), down=get(p + "mlp.dense_4h_to_h.weight"),
                 n_heads=h, n_kv=kv, attn_gain=attn_gain, ffn_gain=ffn_gain)
