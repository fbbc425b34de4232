"""Before and after: the per-term ICS of each pair with the terms as they are (centred only), with
the probe Gram G of both models projected out, and with G and G^2 projected out (what `compare`
does, readable_fp/language_structure.py). `python -m bench.evaluate` scores all three on the same
terms and writes bench/results/language_structure.md from them.
"""
from __future__ import annotations

import statistics

import torch

from readable_fp import language_structure as ls
from readable_fp.model_terms import Invariants
from readable_fp.terms import TERMS

VARIANTS = {"before": "terms centred only (readable-fp 0.1)", "G": "G_A, G_B projected out",
            "G+G^2": "G_A, G_B, G_A^2, G_B^2 projected out (readable-fp 0.2, kept)"}


def term_scores(ia: Invariants, ib: Invariants, B: torch.Tensor | None) -> dict[str, float]:
    """'attn@28/28' -> 100 x cosine once the rows of B are projected out of both terms (B None:
    centred only), layers paired in order (the default last two layers)."""
    out = {}
    for la, lb in zip(ia.layers, ib.layers):
        for t in TERMS:
            out[f"{t}@{la}/{lb}"] = 100 * ls.cosine_without(B, ia.terms[f"{t}@{la}"], ib.terms[f"{t}@{lb}"])
    return out


def report(rows: list[dict]) -> str:
    """The markdown of bench/results/language_structure.md from evaluate's rows."""
    real = [r for r in rows if r["group"] in ("real families",) or (r["derived"] and not r["a"].startswith("tiny"))]
    lines = ["# Language structure taken out of the terms (`python -m bench.evaluate`)", "", __doc__.strip(), "",
             "## Summary over the whole suite (default fingerprint, last two layers)", "",
             "| variant | lowest derived | highest independent | real independent: mean +- sd (min, max) | "
             "lowest derived, in sd of the real independent pairs above their mean | derived pairs lowered by > 0.05 "
             "(largest drop) |", "|---|---|---|---|---|---|"]
    for v, what in VARIANTS.items():
        der = [r["variants"][v]["ics"] for r in rows if r["derived"]]
        ind = [r["variants"][v]["ics"] for r in rows if not r["derived"]]
        ind_real = [r["variants"][v]["ics"] for r in rows if r["group"] == "real families"]
        mean, sd = statistics.mean(ind_real), statistics.stdev(ind_real)
        drops = [r["variants"]["before"]["ics"] - r["variants"][v]["ics"] for r in rows if r["derived"]]
        lines.append(f"| {what} | {min(der):.2f} | {max(ind):.2f} | {mean:.2f} +- {sd:.2f} ({min(ind_real):.2f}, "
                     f"{max(ind_real):.2f}) | {(min(der) - mean) / sd:.1f} | {sum(d > 0.05 for d in drops)} "
                     f"({max(drops):+.2f}) |")
    lines += ["", "## Every real pair, per term: before -> after (G+G^2)", "",
              "| pair | relation | ICS before | ICS after | attn -2 | ov -2 | ffn -2 | attn -1 | ov -1 | ffn -1 |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    for r in real:
        b, a = r["variants"]["before"], r["variants"]["G+G^2"]
        cells = " | ".join(f"{x:.2f} -> {y:.2f}" for x, y in zip(b["terms"].values(), a["terms"].values()))
        lines.append(f"| {r['a']} vs {r['b']} | {'derived' if r['derived'] else 'independent'} | {b['ics']:.2f} | "
                     f"{a['ics']:.2f} | {cells} |")
    lines += ["", "## The seed controls and the tiny Llama's derived pairs", "",
              "| pair | relation | " + " | ".join(f"ICS {v}" for v in VARIANTS) + " |", "|---|---|---|---|---|"]
    for r in rows:
        if r not in real:
            lines.append(f"| {r['a']} vs {r['b']} | {'derived' if r['derived'] else 'independent'} | "
                         + " | ".join(f"{r['variants'][v]['ics']:.2f}" for v in VARIANTS) + " |")
    return "\n".join(lines) + "\n"


def variants(ia: Invariants, ib: Invariants) -> dict[str, dict]:
    out = {}
    B = ls.basis(ia.gram, ib.gram)
    for v, basis in zip(VARIANTS, (None, B[:2], B)):
        terms = term_scores(ia, ib, basis)
        out[v] = {"ics": sum(terms.values()) / len(terms), "terms": terms}
    return out
