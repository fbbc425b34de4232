"""The null distribution: how high ICS goes for two models that share no base, and the verdict.

Two unrelated, well-trained language models share some token-to-token structure, so their ICS
is not 0 (method.md section 3). A comparison is therefore judged against explicit independent
pairs, kept in groups of like pairs:

- ``language models``: real pretrained models of different families (the packages of
  ../shared/models.md; users add their own with ``readable-fp null add``);
- ``seed controls``: small Llamas of one architecture trained on the same data from different
  seeds (the published method's control).

Within a group the ICS of a new independent pair is predicted by a Student t distribution
(location = mean, scale = sd x sqrt(1 + 1/n), n - 1 degrees of freedom: the predictive
distribution of one more draw from a normal population whose mean and sd were estimated from n
pairs). The p-value is the most conservative (largest) over the groups, because real language
models share more structure than models trained on a toy corpus: pooling the groups would make
the null too narrow and call unrelated real models related. With few pairs the t tails are
heavy, which is the honest price of a small null; every pair added tightens it.

Verdict: ``same base`` when p < ALPHA (the stated false-positive rate), ``independent`` when
p >= P_INDEPENDENT (the ICS lies in the usual range of independent pairs), else ``inconclusive``.
The null of each layer mode is separate: ``last2`` (the default last two layers) and ``all``
(every layer, matched between the models), whose best-alignment search raises the ICS of
independent pairs a little.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .atomic import write_bytes
from .errors import FingerprintError
from .paths import read_text

ALPHA = 0.001
P_INDEPENDENT = 0.05
MIN_PAIRS = 2  # a group needs two pairs for an sd; with two, t has 1 degree of freedom (Cauchy tails)
SHIPPED = Path(__file__).resolve().parent.parent / "pretrained" / "null.json"
KIND = "readable-fp/null"
# ICS values from before the language structure was taken out of the terms sit on another scale
ICS_KIND = "language structure removed"
LANGUAGE = "language models"


def user_dir() -> Path:
    """Where `readable-fp null add` keeps its pairs and member invariants ($READABLE_FP_HOME)."""
    home = os.environ.get("READABLE_FP_HOME")
    if home:
        return Path(home).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "readable-fp"


@dataclass
class NullPair:
    a: str
    b: str
    group: str
    mode: str  # "last2" or "all"
    ics: float
    n_tokens: int
    terms: dict[str, float] = field(default_factory=dict)


@dataclass
class Calibration:
    verdict: str  # "same base", "independent", "inconclusive"
    p: float
    z: float
    alpha: float
    mode: str
    group: str  # the group that decided (largest p)
    n_pairs: int
    null_mean: float
    null_sd: float
    same_base_above: float  # the ICS above which this null says "same base"
    n_tokens: int  # the null's median probe-token count

    def line(self) -> str:
        return (f"verdict: {self.verdict.upper()} (p = {self.p:.2g}, z = {self.z:.1f} against {self.n_pairs} "
                f"independent pairs of {self.group}, ICS {self.null_mean:.2f} +- {self.null_sd:.2f}; "
                f"'same base' above ICS {self.same_base_above:.1f}, false-positive rate {self.alpha:g})")


def mode_of(layers) -> str | None:
    """The null mode of a `layers` argument: None/'-2,-1' -> 'last2', 'all' -> 'all', else None."""
    if layers is None:
        return "last2"
    if isinstance(layers, str):
        s = layers.replace(" ", "")
        return "all" if s == "all" else "last2" if s in ("-2,-1", "-1,-2") else None
    return "last2" if sorted(layers) == [-2, -1] else None


class Null:
    def __init__(self, pairs: list[NullPair], how: str = ""):
        self.pairs = pairs
        self.how = how

    @classmethod
    def read(cls, path: str | Path) -> "Null":
        try:
            d = json.loads(read_text(path, "index"))
            if d.get("kind") != KIND:
                raise ValueError("not a readable-fp null file")
            if d.get("ics") != ICS_KIND:
                raise FingerprintError(f"{path}: made by an earlier readable-fp, whose ICS kept the language "
                                       "structure independent models share; move it away and `readable-fp null add` "
                                       "the models again")
            return cls([NullPair(**p) for p in d["pairs"]], d.get("how", ""))
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as e:
            raise FingerprintError(f"{path}: unreadable null file ({e})") from None

    def write(self, path: str | Path) -> None:
        d = {"kind": KIND, "ics": ICS_KIND, "how": self.how, "alpha": ALPHA, "p_independent": P_INDEPENDENT,
             "pairs": [asdict(p) for p in self.pairs]}
        write_bytes(path, (json.dumps(d, indent=1, ensure_ascii=False) + "\n").encode())

    def groups(self, mode: str) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {}
        for p in self.pairs:
            if p.mode == mode:
                out.setdefault(p.group, []).append(p.ics)
        return {g: v for g, v in out.items() if len(v) >= MIN_PAIRS}

    def without(self, a: str, b: str) -> "Null":
        """The null less the pair (a, b): a pair's own verdict must not use the pair itself."""
        return Null([p for p in self.pairs if {p.a, p.b} != {a, b}], self.how)

    def without_models(self, *names: str) -> "Null":
        """The null less every pair that involves one of these models: leave-one-family-out."""
        return Null([p for p in self.pairs if p.a not in names and p.b not in names], self.how)

    def calibrate(self, ics: float, mode: str | None) -> Calibration | None:
        """z, p and verdict of an ICS in `mode`; None when this null has no pairs for the mode."""
        from scipy.stats import t as student_t

        fits = {g: _Fit(v) for g, v in sorted(self.groups(mode).items())} if mode else {}
        if not fits:
            return None
        p = {g: float(student_t.sf((ics - f.mean) / f.scale, f.n - 1)) for g, f in fits.items()}
        g = max(p, key=p.get)
        f = fits[g]
        verdict = "same base" if p[g] < ALPHA else "independent" if p[g] >= P_INDEPENDENT else "inconclusive"
        above = max(h.mean + float(student_t.isf(ALPHA, h.n - 1)) * h.scale for h in fits.values())
        toks = sorted(q.n_tokens for q in self.pairs if q.mode == mode and q.group == g)
        return Calibration(verdict, p[g], (ics - f.mean) / f.sd, ALPHA, mode, g, f.n, f.mean, f.sd, above,
                           toks[len(toks) // 2])


class _Fit:
    """Mean, sd and the predictive scale sd * sqrt(1 + 1/n) of one group's ICS values."""

    def __init__(self, v: list[float]):
        self.n = len(v)
        self.mean = sum(v) / self.n
        self.sd = math.sqrt(sum((x - self.mean) ** 2 for x in v) / (self.n - 1)) or 1e-6
        self.scale = self.sd * math.sqrt(1 + 1 / self.n)


def load(path: str | Path | None = None, store: str | Path | None = None) -> Null:
    """The null file `path`; by default the shipped null (pretrained/null.json) plus the pairs of
    the user's store (`store`, default `user_dir()`)."""
    if path is not None:
        return Null.read(path)
    pairs: list[NullPair] = []
    how = ""
    if SHIPPED.is_file():
        shipped = Null.read(SHIPPED)
        pairs, how = list(shipped.pairs), shipped.how
    user = Path(store or user_dir()) / "null.json"
    if user.is_file():
        pairs += Null.read(user).pairs
    return Null(pairs, how)
