"""Bailing-named GLM-4.5-style mixtures of experts: sarvam_moe, param2moe.

Transformers runs both as GLM-4.5 MoE, but their checkpoints keep the Ling/Bailing names:
embedding `word_embeddings`, attention `attention.query_key_value` (rows [q; k; v], GQA
sizes), `attention.dense` (output), per-head `attention.query_layernorm` / `key_layernorm`;
experts `mlp.experts.E.{gate,up,down}_proj`, shared experts one dense FFN `mlp.shared_experts`,
router `mlp.gate` (left out). The first `first_k_dense_replace` layers have a dense
`mlp.{gate,up,down}_proj`.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first
from ._moe import dense, moe
from ._parts import gains

FAMILIES = ("sarvam_moe", "param2moe")
EMBEDDING = "word_embeddings.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)


def _attention(cfg, get, p, gain) -> dict:
    h, kv = first(cfg, "num_attention_heads"), first(cfg, "num_key_value_heads", "num_attention_heads")
    hd = first(cfg, "head_dim", default=first(cfg, "hidden_size") // h)
    qkv = get(p + "attention.query_key_value.weight")
    if qkv.shape[0] != (h + 2 * kv) * hd:
        raise FingerprintError(f"{p}attention.query_key_value has {qkv.shape[0]} rows, not "
                               f"({h} + 2 x {kv}) heads x {hd}")
    q, k, v = qkv.split([h * hd, kv * hd, kv * hd])
    return dict(q=q, k=k, v=v, o=get(p + "attention.dense.weight"), n_heads=h, n_kv=kv,
                q_gain=gain("attention.query_layernorm"), k_gain=gain("attention.key_layernorm"))


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    if i >= (cfg.get("first_k_dense_replace") or 0):
        ffn = moe(cfg, get, p + "mlp.", f"layer {i}", shared="shared_experts" if cfg.get("n_shared_experts") else None)
    else:
        ffn = dense(get, p + "mlp.")
    return Layer(**_attention(cfg, get, p, gain), **ffn,
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
