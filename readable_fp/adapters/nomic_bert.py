"""Nomic-style post-LN encoders with one fused q/k/v: nomic_bert, jina_embeddings_v3.

Names (as released and as transformers saves them; it renames them only in memory):
`encoder.layers.N.attn.Wqkv` / `attn.out_proj` (nomic_bert) or `mixer.Wqkv` / `mixer.out_proj`
(jina_embeddings_v3), LayerNorms `norm1` / `norm2`; FFN `mlp.fc11` (up), `mlp.fc12` (gate),
`mlp.fc2` (nomic's GLU) or `mlp.fc1` / `mlp.fc2` (jina).
Quirks:
- `Wqkv` is q, k, v in thirds (transformers chunks it in three along the rows).
- nomic's gated FFN computes act(fc12 x) * fc11 x: `fc11` is the linear "up" half
  (transformers loads it as `up_proj`, `fc12` as `gate_proj`).
- Post-LN, as BERT: `norm1` follows the attention's residual add, so no gain reads the stream
  before attention and the FFN reads `norm1`'s output; `norm2` follows the FFN's.
- Rotary position embeddings, as everywhere, do not enter the terms.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import Layer, first

FAMILIES = ("nomic_bert", "jina_embeddings_v3")
EMBEDDING = "embeddings.word_embeddings.weight"
LAYER = "encoder.layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins
_NAMES = {"nomic_bert": ("attn.", "mlp.fc11", "mlp.fc2"), "jina_embeddings_v3": ("mixer.", "mlp.fc1", "mlp.fc2")}


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")
    attn, up, down = _NAMES[cfg["model_type"]]
    qkv = get(p + attn + "Wqkv.weight")
    if qkv.shape[0] % 3:
        raise FingerprintError(f"{p}{attn}Wqkv has {qkv.shape[0]} rows, not three equal parts (q, k, v)")
    q, k, v = qkv.chunk(3, dim=0)
    return Layer(q=q, k=k, v=v, o=get(p + attn + "out_proj.weight"),
                 up=get(p + up + ".weight"), down=get(p + down + ".weight"), n_heads=h, n_kv=h,
                 ffn_gain=get(p + "norm1.weight"))
