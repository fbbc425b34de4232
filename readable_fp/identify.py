"""`readable-fp identify`: which indexed model is this one's base?

The model's standalone invariants give its signature (`readable_fp.signature`); a dot-product
search over the index's search vectors (`index_search.top_k`; only refs and vectors are read for it)
shortlists candidates, whose sketches are then read and compared in full: the estimated ICS. For the best `top`, where the index keeps the
candidate's invariants, the exact ICS on the probe tokens both share and the calibrated verdict
against the null (`api.judge`) follow, as `readable-fp compare` would give them.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

from .errors import FingerprintError
from .index_store import Index

SHORTLIST = 100  # search-vector candidates whose full sketches are compared


@dataclass
class Candidate:
    ref: str
    model: str  # what the record says the model is
    estimated_ics: float
    ics: float | None = None  # exact, where the index holds the candidate's invariants
    verdict: str | None = None
    p: float | None = None
    n_tokens: int | None = None
    note: str | None = None  # why there is no exact ICS


@dataclass
class Identification:
    model: str
    index: str
    entries: int
    candidates: list[Candidate] = field(default_factory=list)
    note: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    def table(self) -> str:
        lines = [f"{self.model}: nearest of {self.entries} indexed models ({self.index})",
                 f"{'rank':>4}  {'ICS est.':>8}  {'ICS':>6}  {'verdict':<12}  model"]
        for i, c in enumerate(self.candidates, 1):
            ics = f"{c.ics:6.2f}" if c.ics is not None else f"{'-':>6}"
            note = f"  [{c.note}]" if c.note else ""
            lines.append(f"{i:>4}  {c.estimated_ics:8.2f}  {ics}  {c.verdict or '-':<12}  {c.ref}  ({c.model}){note}")
        if self.note:
            lines.append(self.note)
        if any(c.ics is None and not c.note for c in self.candidates):
            lines.append("ICS and verdict need the candidate's invariants in the index (index add --save-invariants); "
                         "ICS est. is the signatures' estimate")
        return "\n".join(lines)


def _exact(c: Candidate, inv, other, nl) -> None:
    """The exact ICS and verdict, as `compare` gives them, on the probe strings both models have."""
    from . import api
    from .compare import TooFewSharedTokens

    try:
        res = api.judge(inv, other, null=nl)
    except TooFewSharedTokens as e:  # vocabularies apart: nothing to compare exactly (and no shared base)
        c.note = str(e).split(";")[0]
        return
    c.ics, c.n_tokens = round(res.ics, 2), res.n_tokens
    if res.calibration:
        c.verdict, c.p = res.calibration.verdict, float(res.calibration.p)


def _describe(record: dict) -> str:
    m = record.get("model", {})
    return ", ".join(str(x) for x in (m.get("architecture"), m.get("format"), m.get("dtype")) if x)


def identify(model, index_dir, top: int = 5, progress: bool = True, null=None, exclude=(),
             n_tokens: int | None = None, allow_full_download: bool = False) -> Identification:
    """The `top` nearest indexed models to `model` (any reference `compare` accepts); `exclude`: index
    entries (refs) to leave out, e.g. the model itself when it is indexed."""
    from . import api, signature
    from .index_search import top_k
    from .model_terms import Invariants

    idx = Index(index_dir).check()
    t = idx.table(["vector", "invariants"])
    if not t.num_rows:
        raise FingerprintError(f"{idx.dir}: the index is empty (readable-fp index add MODEL... --index DIR)")
    refs, saved = t.column("ref").to_pylist(), t.column("invariants").to_pylist()
    nl = api.load_null(null)
    inv = api.invariants(model, n_tokens=n_tokens, progress=progress, allow_full_download=allow_full_download)
    sig = signature.of(inv)
    leave = set(exclude)
    keep = np.array([r not in leave for r in refs])
    if not keep.any():
        raise FingerprintError(f"{idx.dir}: every entry of the index is excluded")
    order, _ = top_k(Index.matrix(t, "vector", signature.DIM)[keep], sig.vector, SHORTLIST)
    rows = [int(i) for i in np.flatnonzero(keep)[order[0]]]
    got = idx.fetch(t, rows, ["signature", "record"])
    est = sorted(((signature.estimate(sig, signature.Signature.from_bytes(raw).sketch), k)
                  for k, raw in enumerate(got["signature"])), key=lambda x: (-x[0], x[1]))
    out = Identification(str(model), str(idx.dir), int(keep.sum()))
    if inv.keying == "token ids":
        out.note = ("the model has no tokenizer files, so its probe tokens are token ids, not strings: it can match "
                    "only entries made the same way (add its tokenizer files for a meaningful search)")
    for e, k in est[:top]:
        i = rows[k]
        c = Candidate(refs[i], _describe(json.loads(got["record"][k])), round(e, 2))
        if saved[i] and (idx.dir / saved[i]).is_file():
            _exact(c, inv, Invariants.load(idx.dir / saved[i]), nl)
        out.candidates.append(c)
    return out
