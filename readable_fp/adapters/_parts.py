"""Pieces many adapters share: norm gains, llama-style self-attention, experts read one at a time.

Names are relative to the language model's root, as every adapter's (see the package docstring).
"""
from __future__ import annotations

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


def expert_list(get, p: str, up: str = "up_proj", down: str = "down_proj", shared: tuple[str, ...] = ()):
    """(experts, count) for experts stored one module each (`p.0.up_proj`, `p.1.up_proj`, ...), plus
    shared experts stored as one dense FFN each (`shared` prefixes, relative to the layer).

    The count comes from the checkpoint's names (contiguous from 0); the caller checks it
    against the config. Nothing is read until the terms ask, one expert at a time."""
    n = 0
    while get.has(f"{p}{n}.{up}.weight"):
        n += 1

    def each():
        for e in range(n):
            yield get(f"{p}{e}.{up}.weight"), get(f"{p}{e}.{down}.weight")
        for s in shared:
            yield get(f"{s}{up}.weight"), get(f"{s}{down}.weight")
    return each, n + len(shared)
