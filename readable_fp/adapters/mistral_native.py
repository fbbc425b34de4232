"""Mistral's native layout (params.json + consolidated.safetensors, as mistral-inference reads it), dense and MoE.

Names: `tok_embeddings`, `layers.N.attention.{wq,wk,wv,wo}`, `layers.N.feed_forward.{w1,w2,w3}`
(w1 gate, w3 up, w2 down), RMSNorm gains `attention_norm` and `ffn_norm`; a mixture of experts
has `feed_forward.experts.E.{w1,w2,w3}` and the router `feed_forward.gate`. The config is the
one `readable_fp.formats.mistral_native` builds from params.json under Hugging Face's key names.

q and k are stored in Meta's rotary order: within each head, the rotated pairs are adjacent
rows (2i, 2i+1), where Hugging Face's rotary code pairs row i with row i + head_dim/2.
transformers' convert_mistral_weights_to_hf.py reorders them (`permute_for_rope`); the same is
done here, so the canonical layer is exactly the Hugging Face model's. For the terms it makes no
difference: the attention term sums q_r . k_r over the rows r of a head, and the reorder moves
q's and k's rows within each head by the same permutation (same head_dim, q and k alike), which a
sum over those rows does not see; v and o are not reordered by the converter at all. It would
matter for anything indexed by the row inside a head (per-head q/k norm gains), which Mistral's
models do not have; it is applied so the tensors are Hugging Face's, not only the terms.
"""
from __future__ import annotations

from . import Layer, first
from ._moe import expert_list
from ..errors import FingerprintError

FAMILIES = ("mistral_native",)
EMBEDDING = "tok_embeddings.weight"
LAYER = "layers.{i}."
LAYER_COUNT = ("num_hidden_layers",)  # config keys, first present wins


def rope_to_hf(w, n_heads: int):
    """transformers' `permute_for_rope`: Meta's interleaved rotary pairs -> Hugging Face's halves."""
    rows = w.shape[0]
    if rows % (2 * n_heads):
        raise FingerprintError(f"{rows} rows of q/k do not split into {n_heads} heads of an even head_dim")
    return w.reshape(n_heads, rows // n_heads // 2, 2, -1).transpose(1, 2).reshape(w.shape)


def layer(cfg, i, get):
    p = LAYER.format(i=i)
    h = first(cfg, "num_attention_heads")
    kv = first(cfg, "num_key_value_heads", "num_attention_heads")
    a, ff = p + "attention.", p + "feed_forward."
    common = dict(q=rope_to_hf(get(a + "wq.weight"), h), k=rope_to_hf(get(a + "wk.weight"), kv),
                  v=get(a + "wv.weight"), o=get(a + "wo.weight"), n_heads=h, n_kv=kv,
                  attn_gain=get(p + "attention_norm.weight"), ffn_gain=get(p + "ffn_norm.weight"))
    if get.has(ff + "experts.0.w3.weight"):
        experts, n = expert_list(get, ff + "experts.", up="w3", down="w2")
        want = cfg.get("num_local_experts")
        if want is not None and n != want:
            raise FingerprintError(f"layer {i}: {n} experts in the checkpoint, params.json says {want}")
        return Layer(**common, up=None, down=None, experts=experts, n_experts=n)
    return Layer(**common, up=get(ff + "w3.weight"), down=get(ff + "w2.weight"))
