"""Pieces the hybrid adapters share: which layers have attention, and MoE FFNs in either storage.

Names are relative to the language model's root, as every adapter's (see the package docstring).
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import first
from ._parts import expert_list


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


def ffn_or_experts(cfg: dict, get, m: str, up: str = "up_proj", down: str = "down_proj",
                   experts: str = "experts.", shared: tuple[str, ...] = (), count: tuple[str, ...] = ("num_experts",)):
    """`dict(up=, down=)` of a dense FFN at `m`, or `dict(up=None, down=None, experts=, n_experts=)` of a mixture.

    Experts come one module each (`m.experts.E.up_proj`) or, as transformers 5 saves some, fused
    3-D (`m.experts.gate_up_proj` E x 2F x d, gate rows first, and `m.experts.down_proj` E x d x F).
    `shared` are the shared experts' prefixes (dense FFNs) relative to the root."""
    if get.has(m + up + ".weight"):
        return dict(up=get(m + up + ".weight"), down=get(m + down + ".weight"))
    e = m + experts
    if get.has(e + "gate_up_proj"):
        extra = tuple(dense(get, s + up + ".weight", s + down + ".weight") for s in shared)
        each, n = fused_experts(get, e + "gate_up_proj", e + "down_proj", extra)
    else:
        each, n = expert_list(get, e, up, down, shared)
    return moe(cfg, each, n, len(shared), m, count)


def moe(cfg: dict, each, n: int, n_shared: int, where: str, count: tuple[str, ...]) -> dict:
    """The Layer fields of a mixture, its expert count checked against the config's."""
    want = first(cfg, *count)
    if n - n_shared != want:
        raise FingerprintError(f"'{where}' has {n - n_shared} experts in the checkpoint, but the config says {want}")
    return dict(up=None, down=None, experts=each, n_experts=n)


def dense(get, up: str, down: str):
    """A dense FFN (shared expert) as a function returning its (up, down), read when called."""
    return lambda: (get(up), get(down))


def dense_fused(get, gate_up: str, down: str):
    """Like `dense`, for a FFN whose gate and up projections are one tensor, gate rows first."""
    def read():
        t = get(gate_up)
        if t.dim() != 2 or t.shape[0] % 2:
            raise FingerprintError(f"'{gate_up}' has shape {tuple(t.shape)}, not 2F x width")
        return t[t.shape[0] // 2:], get(down)
    return read


def fused_experts(get, gate_up: str, down: str, extra=()):
    """(experts, count) for experts fused 3-D: `gate_up` E x 2F x d (gate rows first), `down` E x d x F;
    `extra` are dense FFNs (see `dense`) that follow them, the shared experts."""
    shape = get.shape(gate_up)
    if len(shape) != 3 or shape[1] % 2:
        raise FingerprintError(f"'{gate_up}' has shape {tuple(shape)}, not experts x 2F x width")
    n, f = shape[0], shape[1] // 2

    def each():
        for i in range(n):
            yield get.rows(gate_up, [i])[0][f:], get.rows(down, [i])[0]
        for read in extra:
            yield read()
    return each, n + len(extra)
