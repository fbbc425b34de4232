"""Phi-3: llama-like, but q/k/v are fused in `qkv_proj` ([q; k; v] stacked on rows) and gate
and up are fused in `gate_up_proj` ([gate; up] stacked on rows)."""
from __future__ import annotations

from . import Layer, first

FAMILIES = ("phi3",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h, kv = first(cfg, "num_attention_heads"), first(cfg, "num_key_value_heads", "num_attention_heads")
    hd = first(cfg, "head_dim", default=first(cfg, "hidden_size") // h)
    qkv = get(p + "self_attn.qkv_proj.weight")
    q, k, v = qkv.split([h * hd, kv * hd, kv * hd], dim=0)
    gate_up = get(p + "mlp.gate_up_proj.weight")
    up = gate_up[gate_up.shape[0] // 2:]
    return Layer(q=q, k=k, v=v, o=get(p + "self_attn.o_proj.weight"), up=up,
                 down=get(p + "mlp.down_proj.weight"), n_heads=h, n_kv=kv,
                 attn_gain=get(p + "input_layernorm.weight"),
                 ffn_gain=get(p + "post_attention_layernorm.weight"))
