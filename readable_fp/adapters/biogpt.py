"""BioGPT, a fairseq-style pre-LN decoder: `layers.N.self_attn.{q,k,v,out}_proj`, MLP `fc1` / `fc2`.

`self_attn_layer_norm` reads the stream for attention and `final_layer_norm` for the MLP (a
per-layer norm, not the model's last one). The sqrt(d) embedding scale is a scalar and so
leaves the terms' cosines unchanged."""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("biogpt",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_layers", "num_hidden_layers")  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    a = p + "self_attn."
    h = first(cfg, "attention_heads", "num_attention_heads")
    return Layer(q=get(a + "q_proj.weight"), k=get(a + "k_proj.weight"), v=get(a + "v_proj.weight"),
                 o=get(a + "out_proj.weight"), up=get(p + "fc1.weight"), down=get(p + "fc2.weight"),
                 n_heads=h, n_kv=h, attn_gain=get(p + "self_attn_layer_norm.weight"),
                 ffn_gain=get(p + "final_layer_norm.weight"))
