"""DiffLlama (differential attention, as transformers implements it): diffllama - llama names plus `lambda_{q,k}{1,2}`.

Quirks (all from transformers' DiffLlamaAttention):
- q/k scores are the usual per-head q.k; the difference lies in the values. The kv heads are
  split in two halves A and B; every query head h reads [v_A ; v_B] of its group (2 x head_dim
  wide), and output block j (2 x head_dim columns of o_proj) receives head j's minus lambda
  times head j + H/2's, lambda = exp(lq1.lk1) - exp(lq2.lk2) + lambda_init(layer), with
  lambda_init = 0.8 - 0.6 exp(-0.3 layer). So each query head gets its own 2 x head_dim value
  rows and o columns (-lambda for the second half of the heads); k is expanded to match.
- The group norm on the attention output has no weights, and the (1 - lambda_init) factor is
  a scalar: neither enters the terms.
"""
from __future__ import annotations

import math

import torch

from ..errors import FingerprintError
from . import Layer
from ._parts import gains, self_attn

FAMILIES = ("diffllama",)
EMBEDDING = "embed_tokens.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def _lambda(get, a: str, i: int) -> float:
    dot = lambda x, y: float(torch.exp((get(a + x).double() * get(a + y).double()).sum()))
    return dot("lambda_q1", "lambda_k1") - dot("lambda_q2", "lambda_k2") + 0.8 - 0.6 * math.exp(-0.3 * i)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    gain = gains(get, p)
    a = self_attn(cfg, get, p, gain)
    H, KV, d = a["n_heads"], a["n_kv"], a["q"].shape[1]
    if KV % 2 or H % 2 or a["v"].shape[0] % KV:
        raise FingerprintError(f"layer {i}: differential attention needs even head counts, got {H} heads / {KV} kv heads")
    rep, hd = H // KV, a["v"].shape[0] // KV
    v = a["v"].view(KV, hd, d)
    group = torch.arange(H) // rep % (KV // 2)  # value half-head index each query head reads
    v_heads = torch.cat([v[group], v[group + KV // 2]], dim=1)  # (H, 2hd, d): [v_A ; v_B]
    o = a["o"].view(d, H // 2, 2 * hd)
    o_heads = torch.cat([o, -_lambda(get, p + "self_attn.", i) * o], dim=1)  # (d, H, 2hd)
    a.update(k=a["k"].view(KV, -1, d).repeat_interleave(rep, dim=0).reshape(-1, d),
             v=v_heads.reshape(-1, d), o=o_heads.reshape(d, -1), n_kv=H)
    return Layer(**a, up=get(p + "mlp.up_proj.weight"), down=get(p + "mlp.down_proj.weight"),
                 attn_gain=gain("input_layernorm"), ffn_gain=gain("post_attention_layernorm"))
