"""Signature size against accuracy: how small can the sketch be before its ICS estimate suffers?

    python -m bench.signature_size          # writes bench/results/signature_size.md (after identify_eval)

For every model of bench/identify_eval.py (the 15 indexed ones and the 33 derived queries) the
standalone invariants give the float32 6 x 64 x 64 sketch; smaller variants are made from it:
float16 and int8 (one scale per channel) at K = 64; K = 32 and 16 by folding the buckets (a count
sketch with hash h mod 64, summed over h mod 32, is the count sketch with hash h mod 32); and the
576-float search vector. Each variant's estimate is scored against the exact ICS of the 48
(query, top-1) pairs of bench/results/identify.json, and against the float32 K = 64 estimate over
every pair of the 48 models.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from bench import zoo
from readable_fp import api, signature
from readable_fp.sketch import sketch

RESULTS = Path(__file__).resolve().parent / "results"


def fold(s: np.ndarray, k: int) -> np.ndarray:
    c, n, _ = s.shape
    return s.reshape(c, n // k, k, n // k, k).sum(axis=(1, 3))  # bucket r of K=k gathers r, r+k, r+2k, ...


def int8(s: np.ndarray) -> np.ndarray:
    scale = np.abs(s).reshape(len(s), -1).max(axis=1)[:, None, None] / 127
    return np.round(s / scale).astype(np.int8).astype(np.float32) * scale


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    fa, fb = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    return float(100 * np.mean((fa * fb).sum(1) / (np.linalg.norm(fa, axis=1) * np.linalg.norm(fb, axis=1))))


VARIANTS = {  # name -> (bytes, estimate of two float32 K=64 sketches)
    "float32, K 64": (6 * 64 * 64 * 4, lambda a, b: cosine(a, b)),
    "float16, K 64 (shipped)": (6 * 64 * 64 * 2, lambda a, b: cosine(a.astype(np.float16), b.astype(np.float16))),
    "int8, K 64": (6 * 64 * 64 + 24, lambda a, b: cosine(int8(a), int8(b))),
    "float16, K 32": (6 * 32 * 32 * 2, lambda a, b: cosine(fold(a, 32).astype(np.float16), fold(b, 32).astype(np.float16))),
    "float16, K 16": (6 * 16 * 16 * 2, lambda a, b: cosine(fold(a, 16).astype(np.float16), fold(b, 16).astype(np.float16))),
    "search vector (576 float32)": (signature.DIM * 4, lambda a, b: float(
        100 * signature.search_vector(a) @ signature.search_vector(b) / 6)),
}


def main() -> int:
    rows = json.loads((RESULTS / "identify.json").read_text())["rows"]
    paths = zoo.build(progress=False)
    names = sorted({r["query"] for r in rows} | {r["top1"] for r in rows})
    t = time.perf_counter()
    sk = {n: sketch(api.invariants(str(paths[n]), progress=False)).numpy() for n in names}
    took = time.perf_counter() - t
    exact = [(r["query"], r["top1"], r["ics"]) for r in rows if r["ics"] is not None]
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1:]]
    ref = {p: VARIANTS["float32, K 64"][1](sk[p[0]], sk[p[1]]) for p in pairs}
    lines = ["# Signature size against accuracy (`python -m bench.signature_size`)", "",
             f"{len(names)} models (bench/identify_eval.py's), sketches in {took:.0f} s; {len(exact)} (query, top-1) "
             f"pairs with exact ICS (bench/results/identify.json); {len(pairs)} pairs of all models for the change "
             "against float32 K 64. ICS points.", "",
             "| variant | bytes | median abs(est - exact) | max abs(est - exact) | max abs(est - float32 K 64) | "
             "highest estimate of an independent pair |", "|---|---|---|---|---|---|"]
    derived = {(r["query"], r["top1"]) for r in rows if r["kind"] == "derived"}
    for name, (size, est) in VARIANTS.items():
        errs = [abs(est(sk[q], sk[t1]) - ics) for q, t1, ics in exact]
        drift = max(abs(est(sk[a], sk[b]) - ref[(a, b)]) for a, b in pairs)
        indep = max(est(sk[q], sk[t1]) for q, t1, _ in exact if (q, t1) not in derived)
        lines.append(f"| {name} | {size:,} | {np.median(errs):.2f} | {max(errs):.2f} | {drift:.2f} | {indep:.2f} |")
    text = "\n".join(lines) + "\n"
    (RESULTS / "signature_size.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
