"""Databricks DBRX: dbrx, fused attention and experts stacked on rows, LayerNorms without bias.

Names (under `transformer.`): embedding `wte`, layer `blocks.N.`; attention
`norm_attn_norm.attn.Wqkv` (rows [q; k; v], `attn_config.kv_n_heads` kv heads) and `out_proj`;
norms `norm_attn_norm.norm_1` (attention) and `norm_2` (FFN); experts `ffn.experts.mlp.{w1,v1,w2}`,
each (experts x F, d): w1 the gate, v1 up, and w2 down stored transposed (expert e's rows are
its down projection's columns); router `ffn.router` (left out).
Quirks:
- q, k and v are clipped to +-clip_qkv, a clamp that never enters.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first

FAMILIES = ("dbrx",)
EMBEDDING = "wte.weight"
LAYER = "blocks.{i}."
LAYER_COUNT = ("n_layers",)


def _experts(cfg, get, m: str, d: int, where: str):
    n = first(cfg.get("ffn_config") or {}, "moe_num_experts")
    rows = get.shape(m + "v1")[0]
    if rows % n or get.shape(m + "v1") != get.shape(m + "w2") or get.shape(m + "v1")[1] != d:
        raise FingerprintError(f"{where}: experts {tuple(get.shape(m + 'v1'))} / {tuple(get.shape(m + 'w2'))} do not "
                               f"split into {n} experts of width {d}")
    f = rows // n

    def each():
        for e in range(n):
            r = list(range(e * f, (e + 1) * f))
            yield get.rows(m + "v1", r), get.rows(m + "w2", r).T
    return each, n


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    a = p + "norm_attn_norm."
    d, h = first(cfg, "d_model"), first(cfg, "n_heads")
    kv = first(cfg.get("attn_config") or {}, "kv_n_heads", default=h)
    hd = d // h
    qkv = get(a + "attn.Wqkv.weight")
    if qkv.shape[0] != (h + 2 * kv) * hd:
        raise FingerprintError(f"{a}attn.Wqkv has {qkv.shape[0]} rows, not ({h} + 2 x {kv}) heads x {hd}")
    q, k, v = qkv.split([h * hd, kv * hd, kv * hd])
    each, n = _experts(cfg, get, p + "ffn.experts.mlp.", d, f"layer {i}")
    return Layer(q=q, k=k, v=v, o=get(a + "attn.out_proj.weight"), up=None, down=None, n_heads=h, n_kv=kv,
                 experts=each, n_experts=n,
                 attn_gain=get(a + "norm_1.weight"), ffn_gain=get(a + "norm_2.weight"))
