"""CodeGen: codegen - a parallel block (as GPT-J) whose `attn.qkv_proj` fuses q, v, k in model-parallel shards.

Quirks:
- `qkv_proj`'s output is viewed as (mp_num = 4 shards, 3 x d/4) and each shard split in the
  order q, *v*, k; each of q, v, k is the concatenation of its four shard slices (heads then
  run across the concatenation). Splitting in plain thirds would pair the wrong rows.
- One LayerNorm `ln_1` feeds both attention and the MLP (`mlp.fc_in` / `mlp.fc_out`).
"""
from __future__ import annotations

import torch

from ..errors import FingerprintError
from . import Layer, first

FAMILIES = ("codegen",)
EMBEDDING = "wte.weight"
LAYER = "h.{i}."
LAYER_COUNT = ("n_layer", "num_hidden_layers")  # config keys, first present wins
_MP_NUM = 4  # fixed in transformers' CodeGenAttention (the TPU-v4 layout it was trained with)


def _split_qvk(qkv: torch.Tensor, where: str):
    d = qkv.shape[1]
    if qkv.shape[0] != 3 * d or d % _MP_NUM:
        raise FingerprintError(f"{where}: qkv_proj of shape {tuple(qkv.shape)} is not 3d x d with d divisible by {_MP_NUM}")
    q, v, k = qkv.view(_MP_NUM, 3, d // _MP_NUM, d).unbind(1)
    return q.reshape(d, d), k.reshape(d, d), v.reshape(d, d)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "n_head", "num_attention_heads")
    q, k, v = _split_qvk(get(p + "attn.qkv_proj.weight"), f"layer {i}")
    ln = get(p + "ln_1.weight")
    return Layer(q=q, k=k, v=v, o=get(p + "attn.out_proj.weight"),
                 up=get(p + "mlp.fc_in.weight"), down=get(p + "mlp.fc_out.weight"),
                 n_heads=h, n_kv=h, attn_gain=ln, ffn_gain=ln)
