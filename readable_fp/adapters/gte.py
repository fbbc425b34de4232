"""GTE (Alibaba's "new" encoder): gte, post-LN with fused q/k/v and a fused GLU.

Names (as released and as transformers saves them; it renames them only in memory):
`encoder.layer.N.attention.qkv_proj` / `attention.o_proj`, LayerNorms `attn_ln` / `mlp_ln`,
FFN `mlp.up_gate_proj` / `mlp.down_proj`.
Quirks:
- `qkv_proj` is q, k, v in thirds; `up_gate_proj` is [up; gate] in halves (transformers
  chunks them along the rows into q/k/v_proj and up_proj, gate_proj) and computes
  act(gate) * up, so the first half is the linear "up".
- Post-LN, as BERT: `attn_ln` follows the attention's residual add, so no gain reads the stream
  before attention and the FFN reads `attn_ln`'s output.
- Released checkpoints keep the tensors under `new.`; the root is found whatever it is.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first

FAMILIES = ("gte",)
EMBEDDING = "embeddings.word_embeddings.weight"
LAYER = "encoder.layer.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def _parts(get, name, n):
    w = get(name)
    if w.shape[0] % n:
        raise FingerprintError(f"{name} has {w.shape[0]} rows, not {n} equal parts")
    return w.chunk(n, dim=0)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")
    q, k, v = _parts(get, p + "attention.qkv_proj.weight", 3)
    up, _gate = _parts(get, p + "mlp.up_gate_proj.weight", 2)
    return Layer(q=q, k=k, v=v, o=get(p + "attention.o_proj.weight"),
                 up=up, down=get(p + "mlp.down_proj.weight"), n_heads=h, n_kv=h, ffn_gain=get(p + "attn_ln.weight"))
