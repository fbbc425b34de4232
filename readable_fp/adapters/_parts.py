"""Pieces many adapters share: norm gains, llama-style self-attention, norm gains folded into rows,
which layers of a hybrid have attention. Everything about mixtures of experts is in `_moe`.

Names are relative to the language model's root, as every adapter's (see the package docstring).
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import first


def gains(get, p: str, plus_one: bool = False):
    """`gain(name)`: the gain of norm `p + name` (None if the checkpoint has none).

    Gemma-style RMSNorms multiply by (1 + weight): `plus_one` turns the stored weight into the gain."""
    def gain(name: str):
        full = p + name + ".weight"
        if not get.has(full):
            return None
        g = get(full)
        return g + 1.0 if plus_one else g
    return gain


def self_attn(cfg, get, p: str, gain, prefix: str = "self_attn.", o_name: str = "o_proj") -> dict:
    """q/k/v/o of `p + prefix + {q,k,v,o}_proj` with per-head `q_norm` / `k_norm` gains where present."""
    a = p + prefix
    return dict(q=get(a + "q_proj.weight"), k=get(a + "k_proj.weight"), v=get(a + "v_proj.weight"),
                o=get(a + o_name + ".weight"), n_heads=first(cfg, "num_attention_heads"),
                n_kv=first(cfg, "num_key_value_heads", "num_attention_heads"),
                q_gain=gain(prefix + "q_norm"), k_gain=gain(prefix + "k_norm"))


def scale_rows(W, gain, where: str):
    """W with row r multiplied by the r-th entry of `gain` (flattened, heads first, as the projection's rows).

    For norms that `Layer`'s per-head q/k gains cannot express: one over all heads' outputs at once
    (OLMo 2), or per-head norms with a different gain in every head (Cohere, StableLM)."""
    if gain is None:
        return W
    g = gain.reshape(-1)
    if g.shape[0] != W.shape[0]:
        raise FingerprintError(f"{where}: norm gain of {g.shape[0]} entries does not fit a projection of {W.shape[0]} rows")
    return W * g[:, None]


def layers_of_kind(cfg: dict, n: int, key: str, attention: tuple[str, ...], other: tuple[str, ...]) -> list[int]:
    """Indices whose entry in the config's per-layer list `key` is one of the `attention` kinds.

    The list must cover every layer, and every entry must be a known kind: a list of another
    length, or a kind this adapter has not mapped, describes another model, and reading it
    anyway could take a recurrent layer's weights for attention or skip an attention layer."""
    types = cfg.get(key)
    if not isinstance(types, (list, tuple)) or len(types) != n:
        got = f"{len(types)} entries" if isinstance(types, (list, tuple)) else repr(types)[:40]
        raise FingerprintError(f"config: {key} must list the kind of each of the {n} layers (it has {got})")
    unknown = sorted({str(t) for t in types if t not in attention + other})
    if unknown:
        raise FingerprintError(f"config: {key} has layer kinds this adapter does not know: {', '.join(unknown)[:80]}")
    return [i for i, t in enumerate(types) if t in attention]
