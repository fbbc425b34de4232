"""Comparing two sets of invariant terms, and showing the result to people and machines."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import torch

from .errors import FingerprintError
from .model_terms import MIN_PROBES, Invariants
from .null import Calibration
from . import language_structure
from .terms import TERMS, center


class TooFewSharedTokens(FingerprintError):
    """The vocabularies share too few strings for the terms to be compared at all."""


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
    calibration: Calibration | None = None  # z, p and verdict against the null (readable_fp.null)
    matched: bool = False  # layers were matched between the models (all-layers mode)

    @property
    def verdict(self) -> str | None:
        return self.calibration.verdict if self.calibration else None

    def why(self) -> list[str]:
        """The pattern of the per-term and per-layer values, in words (`readable_fp.explain`)."""
        from .explain import explain
        return explain(self)

    def to_dict(self) -> dict:
        d = asdict(self)
        for m in d["models"]:
            m.pop("tensors", None)
            m.pop("storage", None)
        d["why"] = self.why()
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def table(self) -> str:
        how = ", layers matched between the models" if self.matched else ""
        lines = [f"ICS {self.ics:6.2f} / 100   ({self.n_tokens} probe tokens{how})"]
        lines.append(self.calibration.line() if self.calibration else
                     "verdict: none (no null distribution for this layer choice: use the default layers or 'all')")
        lines += [f"why: {w}" for w in self.why()]
        lines.append("")
        lines.append(f"{'term':<6} {'layer A':>8} {'layer B':>8} {'ICS':>8}")
        for t in self.terms:
            lines.append(f"{t.term:<6} {t.layer_a:>8} {t.layer_b:>8} {t.ics:>8.2f}")
        lines.append("")
        lines.append(f"{'':<3} {'format':<24} {'arch':<14} {'dtype':<8} {'read':>10} {'seconds':>8}  source")
        for tag, m in zip("AB", self.models):
            lines.append(f"{tag:<3} {str(m.get('format', '?'))[:24]:<24} {str(m.get('architecture', '?'))[:14]:<14} "
                         f"{str(m.get('dtype', '?'))[:8]:<8} {_bytes(m.get('bytes_read', 0)):>10} "
                         f"{m.get('seconds', 0):>8.2f}  {m.get('source', '')}")
        for tag, m in zip("AB", self.models):
            if m.get("attention_layers"):
                lines.append(f"{tag}: a hybrid; {len(m['attention_layers'])} of its layers have attention, and the "
                             "terms come from those (the layer numbers above are the model's own)")
            if m.get("experts"):
                lines.append(f"{tag}: a mixture of experts ({m['experts']}, shared ones included); its FFN term "
                             "sums them all")
        return "\n".join(lines)


def _bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


def layer_similarity(a: Invariants, b: Invariants) -> torch.Tensor:
    """(layers of a) x (layers of b): the mean over the three terms of the cosine of each layer pair."""
    S = torch.zeros(len(a.layers), len(b.layers), dtype=torch.float64)
    for t in TERMS:
        A = torch.stack([center(a.terms[f"{t}@{i}"]).flatten().float() for i in a.layers])
        B = torch.stack([center(b.terms[f"{t}@{j}"]).flatten().float() for j in b.layers])
        S += (A @ B.T).double() / len(TERMS)
    return S


def match_layers(S: torch.Tensor) -> list[tuple[int, int]]:
    """Order-preserving matching of every row to a distinct column (or every column to a row, when
    there are more rows) maximising the summed similarity: layers dropped by depth pruning are
    skipped, the rest keep their order. Dynamic programming, O(rows x columns)."""
    if S.shape[0] > S.shape[1]:
        return [(i, j) for j, i in match_layers(S.T)]
    n, m = S.shape
    s = S.tolist()
    best = [[0.0] * (m + 1)] + [[-float("inf")] * (m + 1) for _ in range(n)]
    for i in range(1, n + 1):
        for j in range(i, m + 1):
            best[i][j] = max(best[i][j - 1], best[i - 1][j - 1] + s[i - 1][j - 1])
    out, i, j = [], n, m
    while i > 0:
        if best[i][j] == best[i][j - 1] and j > i:
            j -= 1
        else:
            out.append((i - 1, j - 1))
            i, j = i - 1, j - 1
    return out[::-1]


def _gram(inv: Invariants):
    if inv.gram is None:
        raise FingerprintError(f"{inv.info.get('source', 'an invariants file')}: saved by an earlier readable-fp, "
                               "without the probe Gram matrix that comparisons now need; save it again with "
                               "`readable-fp invariants`")
    return inv.gram


def compare_invariants(a: Invariants, b: Invariants, match: bool = False, remove_language: bool = True) -> Comparison:
    """ICS = the mean over terms of 100 x the cosine of the two models' centred terms, once the
    language structure both could share without sharing weights is taken out of both
    (`readable_fp.language_structure`); `remove_language=False` keeps it (the similarity the
    encoder was trained to carry, for its evaluation).

    Layers pair up in order; with `match`, each layer of the shallower model is paired with a
    layer of the deeper one by `match_layers` (the all-layers mode, robust to depth pruning)."""
    in_b = set(b.probes)
    shared = [s for s in a.probes if s in in_b]
    if len(shared) < MIN_PROBES:
        raise TooFewSharedTokens(f"the two models share only {len(shared)} probe tokens (need {MIN_PROBES}); "
                               "their vocabularies are too different to compare")
    if len(a.layers) != len(b.layers) and not match:
        raise FingerprintError(f"different numbers of layers selected ({len(a.layers)} vs {len(b.layers)}); "
                               "use --layers all to match layers between the models")
    if shared != a.probes:
        a = a.restricted(shared)
    if shared != b.probes:
        b = b.restricted(shared)
    if match:
        layer_pairs = [(a.layers[i], b.layers[j]) for i, j in match_layers(layer_similarity(a, b))]
    else:
        layer_pairs = list(zip(a.layers, b.layers))
    B = language_structure.basis(_gram(a), _gram(b), a.embeddings, b.embeddings) if remove_language else None
    scores = []
    for la, lb in layer_pairs:
        for t in TERMS:
            cos = language_structure.cosine_without(B, a.terms[f"{t}@{la}"], b.terms[f"{t}@{lb}"])
            scores.append(TermScore(t, la, lb, 100.0 * cos))
    ics = sum(s.ics for s in scores) / len(scores)
    models = [{**a.info, "n_layers": a.n_layers}, {**b.info, "n_layers": b.n_layers}]
    return Comparison(ics, len(shared), scores, models, matched=match)
