"""ModernBERT: modernbert (encoder) and modernbert-decoder; pre-LN, GLU FFN, fused attention input.

Names: `layers.N.attn.Wqkv` (encoder; q, k, v in thirds, as it views the output as (3, heads,
head_dim)) or `attn.{q,k,v}_proj` (decoder), output `attn.Wo`; FFN `mlp.Wi` / `mlp.Wo`;
LayerNorms `attn_norm` and `mlp_norm` read the stream before each branch.
Quirks:
- `mlp.Wi` holds both GLU halves: transformers chunks its output into (input, gate) and computes
  act(input) * gate, so the first half is the activated one and the second, the linear "up".
- Layer 0 has no `attn_norm` (an Identity): the embeddings already end in a LayerNorm
  (`embeddings.norm`), so its attention reads the stream as it is; no gain to fold.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first

FAMILIES = ("modernbert", "modernbert-decoder")
EMBEDDING = "embeddings.tok_embeddings.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def _qkv(get, a):
    if get.has(a + "Wqkv.weight"):
        w = get(a + "Wqkv.weight")
        if w.shape[0] % 3:
            raise FingerprintError(f"{a}Wqkv has {w.shape[0]} rows, not three equal parts (q, k, v)")
        return w.chunk(3, dim=0)
    return get(a + "q_proj.weight"), get(a + "k_proj.weight"), get(a + "v_proj.weight")


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")
    q, k, v = _qkv(get, p + "attn.")
    wi = get(p + "mlp.Wi.weight")
    if wi.shape[0] % 2:
        raise FingerprintError(f"{p}mlp.Wi has {wi.shape[0]} rows, not two GLU halves")
    norm = p + "attn_norm.weight"
    return Layer(q=q, k=k, v=v, o=get(p + "attn.Wo.weight"),
                 up=wi[wi.shape[0] // 2:], down=get(p + "mlp.Wo.weight"), n_heads=h, n_kv=h,
                 attn_gain=get(norm) if get.has(norm) else None, ffn_gain=get(p + "mlp_norm.weight"))
