"""`readable-fp null add`: grow the user's null with models that share no base.

Kept apart from `readable_fp.null` (the statistics and the verdict) because adding models means
reading them through `readable_fp.api`, which itself needs the null's verdict: here the import
goes one way only.
"""
from __future__ import annotations

from pathlib import Path

from . import api
from .compare import TooFewSharedTokens, compare_invariants
from .errors import FingerprintError
from .model_terms import Invariants
from .null import LANGUAGE, Null, NullPair, load, user_dir


def _bundled_members() -> list[tuple[str, Path]]:
    """The bundled real models that are installed (not the int8 export: it shares MiniLM's base)."""
    from . import bundled

    out = []
    for key in ("smollm2", "minilm"):
        try:
            out.append((bundled.MODELS[key][2], bundled.model(key)))
        except FingerprintError:
            pass
    return out


def add(models: list[str], group: str = LANGUAGE, store: str | Path | None = None,
        progress: bool = True, with_bundled: bool = True) -> list[NullPair]:
    """Add models that share no base with one another (nor with the bundled real models) to the
    user's null: each is paired with every earlier member and (`with_bundled`) every installed
    bundled model; pairs whose vocabularies share too few strings to compare are skipped.

    A member's standalone invariants (last two layers) are kept in `store`/null-members so later
    additions can pair with it; the pairs go to `store`/null.json. A pair that the current null
    already calls "same base" is refused, and nothing is written unless every model succeeds.
    """
    def comparable(fn, *args, **kw):
        try:
            return fn(*args, **kw)
        except TooFewSharedTokens:
            return None

    store = Path(store) if store is not None else user_dir()
    members_dir = store / "null-members"
    current = load(store=store)
    members = [(f.name[: -len(".inv.safetensors")], Invariants.load(f))
               for f in sorted(members_dir.glob("*.inv.safetensors"))] if members_dir.is_dir() else []
    fresh: list[tuple[str, Invariants]] = []
    pairs: list[NullPair] = []
    for m in models:
        name = Path(str(m).rstrip("/")).name or str(m)
        if any(name == n for n, _ in members + fresh):
            raise FingerprintError(f"{name}: already in the null (members are named by file or directory name)")
        inv = api.invariants(m, progress=progress)
        found = [(n, comparable(compare_invariants, inv, other)) for n, other in members + fresh]
        if with_bundled:
            found += [(n, comparable(api.compare, m, path, progress=progress, null=False))
                      for n, path in _bundled_members()]
        for other, res in found:
            if res is None:
                continue
            cal = current.calibrate(res.ics, "last2")
            if cal is not None and cal.verdict == "same base":
                raise FingerprintError(f"{name} and {other} look related (ICS {res.ics:.2f}, p = {cal.p:.2g}); "
                                       "a null pair must share no base, so nothing was added")
            pairs.append(NullPair(name, other, group, "last2", round(res.ics, 4), res.n_tokens,
                                  {f"{t.term}@{t.layer_a}": round(t.ics, 4) for t in res.terms}))
        fresh.append((name, inv))
    members_dir.mkdir(parents=True, exist_ok=True)
    for name, inv in fresh:
        inv.save(members_dir / f"{name}.inv.safetensors")
    user_file = store / "null.json"
    old = Null.read(user_file).pairs if user_file.is_file() else []
    Null(old + pairs, "pairs added with `readable-fp null add`").write(user_file)
    return pairs
