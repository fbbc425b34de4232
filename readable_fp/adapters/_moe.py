"""Everything about mixtures of experts that adapters share: routed experts stored one module each
or fused in 3-D tensors, shared experts, the expert count checked against the config, and the
full-width q/k norms some mixtures carry.

Per-module experts are `p.E.up_proj.weight` / `p.E.down_proj.weight` (out x in, as nn.Linear;
Mixtral-style names `w3` / `w2` through `up` / `down`), read as they are.
Fused 3-D tensors come in two orientations: transformers 5 keeps `gate_up_proj` as
(experts, 2F, d) and `down_proj` as (experts, d, F) (out x in, as nn.Linear), while the original
Qwen3-VL-MoE, Llama 4 and gpt-oss checkpoints store (experts, d, 2F) and (experts, F, d) (in x
out, for a batched matmul). Where a family's names fix the orientation the adapter says which;
where both occur under one name (Qwen3-VL-MoE, which transformers loads either way) it is read
off the shapes, and refused when both fit (2F == d), rather than guessed. Gate and up are stacked
halves, gate first (only the up half enters the terms), except gpt-oss's, interleaved.

Every reader returns `(each, n)`: `each()` yields each expert's (up, down) in the canonical
orientation, reading one expert at a time, only when the terms ask; `n` counts what it yields.
Names are relative to the language model's root, as every adapter's (see the package docstring).
"""
from __future__ import annotations

from ..errors import FingerprintError
from . import first

_COUNT = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")


def check_count(cfg, n: int, where: str, keys: tuple[str, ...] = _COUNT) -> None:
    """The routed experts found must be as many as the config's first of `keys` says, or some were
    lost or misnamed."""
    want = first(cfg, *keys)
    if n != want:
        raise FingerprintError(f"{where}: {n} experts in the checkpoint, but the config says {want}")


def expert_list(get, p: str, up: str = "up_proj", down: str = "down_proj"):
    """(each, n) for experts stored one module each (`p0.up_proj`, `p1.up_proj`, ...; `p` ends in '.').

    The count comes from the checkpoint's names (contiguous from 0); the caller checks it
    against the config (`check_count`)."""
    n = 0
    while get.has(f"{p}{n}.{up}.weight"):
        n += 1

    def each():
        for e in range(n):
            yield get(f"{p}{e}.{up}.weight"), get(f"{p}{e}.{down}.weight")
    return each, n


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


def fused(get, gate_up: str, down: str, d: int, where: str, orient: str | None = None, interleaved: bool = False,
          gated: bool = True):
    """(each, n) for experts fused in 3-D tensors `gate_up` and `down` of width `d`, stored as `orient`
    says ("in_out", "out_in") or, if None, as the shapes tell (see the module docstring).

    `gate_up` holds gate then up halves, or with `interleaved` gate on even and up on odd
    positions (gpt-oss); with `gated=False` it is the up projection alone (Nemotron-H's
    squared-ReLU experts). Each expert is read alone (`get.rows`)."""
    shape_in, shape_down = get.shape(gate_up), get.shape(down)
    if len(shape_in) != 3 or len(shape_down) != 3 or shape_in[0] != shape_down[0]:
        raise FingerprintError(f"{where}: fused experts {tuple(shape_in)} and {tuple(shape_down)} do not pair up")
    n = shape_in[0]
    in_x_out = _in_x_out(shape_in[1:], shape_down[1:], d, orient, where)
    if gated and shape_in[2 if in_x_out else 1] % 2:
        raise FingerprintError(f"{where}: fused experts {tuple(shape_in)} do not split into gate and up halves")

    def each():
        for e in range(n):
            w = get.rows(gate_up, [e])[0]
            w = w.T if in_x_out else w  # now (2F, d), or (F, d) if not gated
            dn = get.rows(down, [e])[0]
            up = (w[1::2] if interleaved else w[w.shape[0] // 2:]) if gated else w
            yield up, (dn.T if in_x_out else dn)
    return each, n


def dense_or_fused(get, p: str, d: int, where: str, up: str = "up_proj", down: str = "down_proj",
                   orient: str | None = None):
    """Experts under `p` (`p.E.up_proj.weight`, ... one module each, as transformers writes them) or,
    failing that, fused as `p.gate_up_proj` / `p.down_proj` (oriented as `fused` says)."""
    each, n = expert_list(get, p + ".", up=up, down=down)
    if n:
        return each, n
    if get.has(p + ".gate_up_proj"):
        return fused(get, p + ".gate_up_proj", p + ".down_proj", d, where, orient=orient)
    raise FingerprintError(f"{where}: no experts under '{p}' (neither '{p}.0.{up}.weight' nor '{p}.gate_up_proj')")


def shared_ffn(get, p: str, up: str = "up_proj", down: str = "down_proj"):
    """A shared expert stored as a dense FFN (`p + up`, `p + down`, `p` ending in '.'), as a function
    returning its (up, down), read only when called (see `with_shared`)."""
    return lambda: (get(f"{p}{up}.weight"), get(f"{p}{down}.weight"))


def shared_fused(get, gate_up: str, down: str):
    """Like `shared_ffn`, for a shared FFN whose gate and up projections are one tensor, out x in,
    gate rows first (Granite's `shared_mlp.input_linear`)."""
    def read():
        t = get(gate_up)
        if t.dim() != 2 or t.shape[0] % 2:
            raise FingerprintError(f"'{gate_up}' has shape {tuple(t.shape)}, not 2F x width")
        return t[t.shape[0] // 2:], get(down)
    return read


def with_shared(each, n: int, shared: list):
    """Routed experts followed by the shared experts (readers from `shared_ffn` / `shared_fused`):
    the terms sum over all of them alike, since a shared expert is a dense FFN beside the routed ones."""
    def all_():
        yield from each()
        for read in shared:
            yield read()
    return all_, n + len(shared)


def moe(cfg, get, mlp: str, where: str, shared: str | None = None, experts: str = "experts",
        up: str = "up_proj", down: str = "down_proj", orient: str | None = None, count: tuple[str, ...] = _COUNT):
    """Layer fields for the experts under `mlp + experts` (`dense_or_fused`), their count checked
    against the config's first of `count`, plus, if `shared` is given, the shared expert(s) stored as
    one dense FFN `mlp + shared` with the same projection names (it must then exist: a config that
    has one and a checkpoint without it would silently drop neurons)."""
    each, n = dense_or_fused(get, mlp + experts, first(cfg, "hidden_size"), where, up, down, orient)
    check_count(cfg, n, where, count)
    if shared:
        if not get.has(f"{mlp}{shared}.{up}.weight"):
            raise FingerprintError(f"{where}: the config has a shared expert but there is no '{mlp}{shared}.{up}'")
        each, n = with_shared(each, n, [shared_ffn(get, f"{mlp}{shared}.", up, down)])
    return dict(up=None, down=None, experts=each, n_experts=n)


def dense(get, mlp: str, up: str = "up_proj", down: str = "down_proj") -> dict:
    """Layer fields for a dense gated FFN `mlp.{gate,up,down}_proj` (the gate never enters)."""
    return dict(up=get(f"{mlp}{up}.weight"), down=get(f"{mlp}{down}.weight"))


def ffn_or_experts(cfg, get, m: str, up: str = "up_proj", down: str = "down_proj", shared: str | None = None,
                   count: tuple[str, ...] = ("num_experts",)) -> dict:
    """`dense` at `m` if the checkpoint holds one, else `moe` under `m + "experts"`: for hybrids whose
    layers are dense or mixtures as the checkpoint says. Their fused experts are only ever saved
    by transformers 5 (out x in, gate rows first), so that orientation is required, not guessed."""
    if get.has(m + up + ".weight"):
        return dense(get, m, up, down)
    return moe(cfg, get, m, m.rstrip("."), shared, up=up, down=down, orient="out_in", count=count)


def full_width_norms(attn: dict) -> dict:
    """q/k norms over all heads at once (OLMoE, MiniMax-M2: gain of width heads x head_dim) are folded
    into q and k row by row; per-head ones (width head_dim) are left to the terms."""
    for w, g in (("q", "q_gain"), ("k", "k_gain")):
        gain = attn[g]
        if gain is not None and gain.shape[0] == attn[w].shape[0] and gain.shape[0] != attn[w].shape[0] // (
                attn["n_heads"] if w == "q" else attn["n_kv"]):
            attn[w], attn[g] = attn[w] * gain[:, None], None
    return attn
