"""Pieces the mixture-of-experts adapters share: experts stored one module each or fused in 3-D
tensors, the expert count checked against the config, full-width q/k norms.

Fused 3-D tensors come in two orientations: transformers 5 keeps `gate_up_proj` as
(experts, 2F, d) and `down_proj` as (experts, d, F) (out x in, as nn.Linear), while the original
Qwen3-VL-MoE, Llama 4 and gpt-oss checkpoints store (experts, d, 2F) and (experts, F, d) (in x
out, for a batched matmul). Where a family's names fix the orientation the adapter says which;
where both occur under one name (Qwen3-VL-MoE, which transformers loads either way) it is read
off the shapes, and refused when both fit (2F == d), rather than guessed.
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import first
from ._parts import expert_list


def check_count(cfg, n: int, where: str, keys=("num_local_experts", "num_experts", "n_routed_experts",
                                             "moe_num_experts")) -> None:
    """The routed experts found must be as many as the config says, or some were lost or misnamed."""
    want = first(cfg, *keys)
    if n != want:
        raise FingerprintError(f"{where}: {n} experts in the checkpoint, but the config says {want}")


def _in_x_out(shape_in, shape_down, d: int, orient: str | None, where: str) -> bool:
    """Whether per-expert matrices of these shapes are stored in x out: as `orient` says ("in_out" /
    "out_in", checked against the shapes), or, if None, as the shapes alone tell."""
    fits = {"out_in": shape_in[1] == d and shape_down[0] == d, "in_out": shape_in[0] == d and shape_down[1] == d}
    if orient is None:
        if shape_in[0] == shape_in[1] or shape_down[0] == shape_down[1]:  # each tensor must tell on its own
            raise FingerprintError(f"{where}: fused experts {tuple(shape_in)} and {tuple(shape_down)} per expert: a "
                                   "square one's orientation (in x out or out x in) cannot be told")
        orient = "in_out" if fits["in_out"] else "out_in"
    if not fits[orient]:
        raise FingerprintError(f"{where}: fused experts {tuple(shape_in)} and {tuple(shape_down)} per expert do not "
                               f"fit width {d}")
    return orient == "in_out"


def fused(get, gate_up: str, down: str, d: int, where: str, orient: str | None = None, interleaved: bool = False):
    """(each, n) for experts fused in 3-D tensors `gate_up` (gate and up halves, or with `interleaved`
    gate on even and up on odd positions, as gpt-oss) and `down`, stored as `orient` says ("in_out",
    "out_in") or, if None, as the shapes tell. Each expert is read alone (`get.rows`)."""
    shape_in, shape_down = get.shape(gate_up), get.shape(down)
    if len(shape_in) != 3 or len(shape_down) != 3 or shape_in[0] != shape_down[0]:
        raise FingerprintError(f"{where}: fused experts {tuple(shape_in)} and {tuple(shape_down)} do not pair up")
    n = shape_in[0]
    in_x_out = _in_x_out(shape_in[1:], shape_down[1:], d, orient, where)

    def each():
        for e in range(n):
            w = get.rows(gate_up, [e])[0]
            w = w.T if in_x_out else w  # now (2F, d)
            dn = get.rows(down, [e])[0]
            yield (w[1::2] if interleaved else w[w.shape[0] // 2:]), (dn.T if in_x_out else dn)
    return each, n


def dense_or_fused(get, p: str, d: int, where: str, up: str = "up_proj", down: str = "down_proj"):
    """Experts under `p` (`p.E.up_proj.weight`, ... one module each, as transformers writes them) or,
    failing that, fused as `p.gate_up_proj` / `p.down_proj`."""
    each, n = expert_list(get, p + ".", up=up, down=down)
    if n:
        return each, n
    if get.has(p + ".gate_up_proj"):
        return fused(get, p + ".gate_up_proj", p + ".down_proj", d, where)
    raise FingerprintError(f"{where}: no experts under '{p}' (neither '{p}.0.{up}.weight' nor '{p}.gate_up_proj')")


def with_shared(each, n: int, get, shared: list[str], up: str = "up_proj", down: str = "down_proj"):
    """Routed experts followed by shared experts stored as dense FFNs (prefixes ending in '.')."""
    def all_():
        yield from each()
        for s in shared:
            yield get(f"{s}{up}.weight"), get(f"{s}{down}.weight")
    return all_, n + len(shared)


def full_width_norms(attn: dict) -> dict:
    """q/k norms over all heads at once (OLMoE, MiniMax-M2: gain of width heads x head_dim) are folded
    into q and k row by row; per-head ones (width head_dim) are left to the terms."""
    for w, g in (("q", "q_gain"), ("k", "k_gain")):
        gain = attn[g]
        if gain is not None and gain.shape[0] == attn[w].shape[0] and gain.shape[0] != attn[w].shape[0] // (
                attn["n_heads"] if w == "q" else attn["n_kv"]):
            attn[w], attn[g] = attn[w] * gain[:, None], None
    return attn


def moe(cfg, get, mlp: str, where: str, shared: str | None = None, experts: str = "experts"):
    """Layer fields for the experts under `mlp + experts` plus, if `shared` is given, the shared
    expert(s) stored as one dense FFN `mlp + shared` (it must then exist: a config that has one and
    a checkpoint without it would silently drop neurons)."""
    each, n = dense_or_fused(get, mlp + experts, first(cfg, "hidden_size"), where)
    check_count(cfg, n, where)
    if shared:
        if not get.has(mlp + shared + ".up_proj.weight"):
            raise FingerprintError(f"{where}: the config has a shared expert but there is no '{mlp}{shared}.up_proj'")
        each, n = with_shared(each, n, get, [mlp + shared + "."])
    return dict(up=None, down=None, experts=each, n_experts=n)


def dense(get, mlp: str) -> dict:
    """Layer fields for a dense gated FFN `mlp.{gate,up,down}_proj`."""
    return dict(up=get(mlp + "up_proj.weight"), down=get(mlp + "down_proj.weight"))
