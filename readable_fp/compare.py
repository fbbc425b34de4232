"""Comparing two sets of invariant terms, and showing the result to people and machines."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from .errors import FingerprintError
from .model_terms import MIN_PROBES, Invariants
from .terms import TERMS, cosine


@dataclass
class TermScore:
    term: str
    layer_a: int
    layer_b: int
    ics: float


@dataclass
class Comparison:
    ics: float
    n_tokens: int
    terms: list[TermScore]
    models: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = asdict(self)
        for m in d["models"]:
            m.pop("tensors", None)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        lines = [f"ICS {self.ics:6.2f} / 100   ({self.n_tokens} probe tokens)", ""]
        lines.append(f"{'term':<6} {'layer A':>8} {'layer B':>8} {'ICS':>8}")
        for t in self.terms:
            lines.append(f"{t.term:<6} {t.layer_a:>8} {t.layer_b:>8} {t.ics:>8.2f}")
        lines.append("")
        lines.append(f"{'':<3} {'format':<24} {'arch':<14} {'dtype':<8} {'read':>10} {'seconds':>8}  source")
        for tag, m in zip("AB", self.models):
            lines.append(f"{tag:<3} {str(m.get('format', '?'))[:24]:<24} {str(m.get('architecture', '?'))[:14]:<14} "
                         f"{str(m.get('dtype', '?'))[:8]:<8} {_bytes(m.get('bytes_read', 0)):>10} "
                         f"{m.get('seconds', 0):>8.2f}  {m.get('source', '')}")
        return "\n".join(lines)


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def compare_invariants(a: Invariants, b: Invariants) -> Comparison:
    """ICS = 100 x the cosine of the concatenated, centred, unit-norm terms = mean of per-term cosines."""
    in_b = set(b.probes)
    shared = [s for s in a.probes if s in in_b]
    if len(shared) < MIN_PROBES:
        raise FingerprintError(f"the two models share only {len(shared)} probe tokens (need {MIN_PROBES}); "
                               "their vocabularies are too different to compare")
    if len(a.layers) != len(b.layers):
        raise FingerprintError(f"different numbers of layers selected ({len(a.layers)} vs {len(b.layers)})")
    if shared != a.probes:
        a = a.restricted(shared)
    if shared != b.probes:
        b = b.restricted(shared)
    scores = []
    for la, lb in zip(a.layers, b.layers):
        for t in TERMS:
            scores.append(TermScore(t, la, lb, 100.0 * cosine(a.terms[f"{t}@{la}"], b.terms[f"{t}@{lb}"])))
    ics = sum(s.ics for s in scores) / len(scores)
    return Comparison(ics, len(shared), scores, [dict(a.info), dict(b.info)])
