"""The evaluation suite: derived and independent model pairs, scored three ways, with verdicts.

    python -m bench.evaluate                 # build the models once (cached), score every pair,
                                             # print the table, write bench/results/evaluation.md + .json
    python -m bench.evaluate --write-null    # also rewrite pretrained/null.json from the independent pairs
    python -m bench.evaluate --only pruned   # just the pairs whose names contain 'pruned' (a quick look)

Scores per pair: ICS of the default fingerprint (last two layers, T = 4096, `readable-fp compare`);
ICS of the all-layers mode (every layer, matched between the models, T = 1024); and the published
method's ICS (bench/published.py: no norm folding, gate*up FFN term, z-scored matrices) on the
same probe tokens. Each is calibrated against a null made of this run's independent pairs
(readable_fp.null); an independent pair is judged against the null *without itself*
(leave-one-pair-out), so no pair vouches for its own verdict.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import torch
from tqdm.auto import tqdm

from readable_fp import __version__, api
from readable_fp import null as nulls
from readable_fp.compare import compare_invariants

from . import language_structure, published, zoo

RESULTS = Path(__file__).resolve().parent / "results"
METHODS = {"ours": "readable-fp (last two layers)", "all": "readable-fp --layers all (matched)",
           "published": "published method's choices"}
GROUP_OF = {"real families": nulls.LANGUAGE, "seed controls": "seed controls"}
MAX_FPR = 0.05


def score_pair(pa: Path, pb: Path) -> dict:
    t0 = time.perf_counter()
    ia, ib = api.pair_invariants(pa, pb, progress=False)
    ours = compare_invariants(ia, ib)
    ours_s = time.perf_counter() - t0
    before_after = language_structure.variants(ia, ib)
    del ia, ib
    t1 = time.perf_counter()
    every = api.compare(pa, pb, layers="all", progress=False, null=False)
    every_s = time.perf_counter() - t1
    pub, pub_terms = published.compare(pa, pb)
    return {
        "ours": {"ics": ours.ics, "n_tokens": ours.n_tokens, "seconds": ours_s,
                 "terms": {f"{t.term}@{t.layer_a}/{t.layer_b}": t.ics for t in ours.terms}},
        "all": {"ics": every.ics, "n_tokens": every.n_tokens, "seconds": every_s,
                "layers": sorted({(t.layer_a, t.layer_b) for t in every.terms})},
        "published": {"ics": pub, "n_tokens": ours.n_tokens, "terms": pub_terms},
        "variants": before_after,
    }


def null_of(rows: list[dict], method: str) -> nulls.Null:
    mode = "all" if method == "all" else "last2"
    return nulls.Null([nulls.NullPair(r["a"], r["b"], GROUP_OF[r["group"]], mode, round(r[method]["ics"], 4),
                                      r[method]["n_tokens"],
                                      {k: round(v, 4) for k, v in r[method].get("terms", {}).items()})
                       for r in rows if not r["derived"]])


def calibrate(rows: list[dict]) -> None:
    for m in METHODS:
        nl = null_of(rows, m)
        mode = "all" if m == "all" else "last2"
        for r in rows:
            own = nl if r["derived"] else nl.without(r["a"], r["b"])
            cal = own.calibrate(r[m]["ics"], mode)
            r[m].update(z=cal.z, p=cal.p, verdict=cal.verdict) if cal else r[m].update(z=None, p=None, verdict="-")


def roc(pos: list[float], neg: list[float], max_fpr: float = 1.0) -> float:
    """Area under the ROC curve up to `max_fpr`, divided by `max_fpr` (1.0 = perfect); ties count half.
    Negative j (in descending order) spans false-positive rates [(j-1)/N, j/N]; there the curve
    stands at the share of positives scoring above it."""
    area = 0.0
    for j, n in enumerate(sorted(neg, reverse=True)):
        lo, hi = j / len(neg), (j + 1) / len(neg)
        width = max(0.0, min(hi, max_fpr) - lo)
        if width:
            area += width * sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos) / len(pos)
    return area / max_fpr


def summary(rows: list[dict]) -> dict:
    out = {}
    for m in METHODS:
        pos = [r[m]["ics"] for r in rows if r["derived"]]
        neg = [r[m]["ics"] for r in rows if not r["derived"]]
        if not pos or not neg:
            continue
        out[m] = {"auc": roc(pos, neg), "pauc_5pc": roc(pos, neg, MAX_FPR), "min_derived": min(pos),
                  "max_independent": max(neg), "margin": min(pos) - max(neg),
                  "derived_same_base": sum(r[m]["verdict"] == "same base" for r in rows if r["derived"]),
                  "n_derived": len(pos), "n_independent": len(neg),
                  "false_positives": sum(r[m]["verdict"] == "same base" for r in rows if not r["derived"]),
                  "independent_called_independent": sum(r[m]["verdict"] == "independent" for r in rows if not r["derived"])}
    return out


def _fmt(x, nd=2):
    return "-" if x is None else f"{x:.{nd}f}" if abs(x) < 1e4 else f"{x:.3g}"


def table(rows: list[dict], summ: dict) -> str:
    head = ("| pair | relation | group | loss of B | ICS | z | p | verdict | all-layers ICS | verdict | "
            "published ICS | verdict |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        o, a, p = r["ours"], r["all"], r["published"]
        lines.append(f"| {r['a']} vs {r['b']} | {'derived' if r['derived'] else 'independent'} | {r['group']} | "
                     f"{_fmt(r.get('loss_b'))} | {o['ics']:.2f} | {_fmt(o['z'], 1)} | {_pval(o['p'])} | {o['verdict']} | "
                     f"{a['ics']:.2f} | {a['verdict']} | {p['ics']:.2f} | {p['verdict']} |")
    lines += ["", "| method | ROC AUC | partial AUC (FPR <= 5%) | lowest derived | highest independent | margin | "
              "derived called same base | independent called same base | independent called independent |",
              "|---|---|---|---|---|---|---|---|---|"]
    for m, s in summ.items():
        lines.append(f"| {METHODS[m]} | {s['auc']:.3f} | {s['pauc_5pc']:.3f} | {s['min_derived']:.2f} | "
                     f"{s['max_independent']:.2f} | {s['margin']:+.2f} | {s['derived_same_base']}/{s['n_derived']} | "
                     f"{s['false_positives']}/{s['n_independent']} | "
                     f"{s['independent_called_independent']}/{s['n_independent']} |")
    return "\n".join(lines)


def leave_one_family_out(rows: list[dict], method: str = "ours") -> list[dict]:
    """Each real independent pair judged by the null without every pair that involves either of
    its two families (here each family is one model), and how many derived pairs that smaller
    null still calls "same base"."""
    nl, mode = null_of(rows, method), "all" if method == "all" else "last2"
    derived = [r for r in rows if r["derived"]]
    out = []
    for r in rows:
        if r["group"] != "real families":
            continue
        own = nl.without_models(r["a"], r["b"])
        cal = own.calibrate(r[method]["ics"], mode)
        lang = own.groups(mode).get(nulls.LANGUAGE)
        if cal is None or not lang:  # a partial run (--only) leaves too few pairs
            continue
        same = sum(own.calibrate(d[method]["ics"], mode).verdict == "same base" for d in derived)
        out.append({"a": r["a"], "b": r["b"], "ics": r[method]["ics"], "p": cal.p, "verdict": cal.verdict,
                    "null_pairs": len(lang), "null_mean": sum(lang) / len(lang), "same_base_above": cal.same_base_above,
                    "derived_same_base": same, "n_derived": len(derived)})
    return out


def lofo_table(lofo: list[dict]) -> str:
    lines = ["| independent pair | ICS | real pairs left in the null (mean ICS) | 'same base' above | p | verdict | "
             "derived pairs still 'same base' |", "|---|---|---|---|---|---|---|"]
    for x in lofo:
        lines.append(f"| {x['a']} vs {x['b']} | {x['ics']:.2f} | {x['null_pairs']} ({x['null_mean']:.2f}) | "
                     f"{x['same_base_above']:.2f} | {x['p']:.2f} | {x['verdict']} | "
                     f"{x['derived_same_base']}/{x['n_derived']} |")
    return "\n".join(lines)


def per_term_table(rows: list[dict], method: str = "ours") -> str:
    """Lowest derived and highest independent ICS per term position (layer -2, -1) and overall."""
    def col(r, k):
        return list(r[method]["terms"].values())[k]
    names = [f"{t} {lay}" for lay in (-2, -1) for t in ("attn", "ov", "ffn")]
    der, ind = [r for r in rows if r["derived"]], [r for r in rows if not r["derived"]]
    lines = ["| | " + " | ".join(names) + " | ICS |", "|---" * (len(names) + 2) + "|"]
    for label, group, pick in (("lowest derived", der, min), ("highest independent", ind, max)):
        cells = [pick(group, key=lambda r, k=k: col(r, k)) for k in range(len(names))]
        best = pick(group, key=lambda r: r[method]["ics"])
        lines.append(f"| {label} | " + " | ".join(f"{col(r, k):.2f} ({r['b']})" for k, r in enumerate(cells))
                     + f" | {best[method]['ics']:.2f} ({best['a']} vs {best['b']}) |")
    return "\n".join(lines)


def _pval(p):
    return "-" if p is None else f"{p:.2g}"


def terms_table(rows: list[dict]) -> str:
    """Per-term ICS of the default fingerprint: the second-to-last and the last layer of each model."""
    lines = ["| pair | layers (A/B) | attn -2 | ov -2 | ffn -2 | attn -1 | ov -1 | ffn -1 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        terms = r["ours"]["terms"]  # "attn@28/28": ICS, in layer order, then attn, ov, ffn
        layers = list(dict.fromkeys(k.split("@")[1] for k in terms))
        lines.append(f"| {r['a']} vs {r['b']} | {', '.join(layers)} | "
                     + " | ".join(f"{terms[f'{t}@{lay}']:.2f}" for lay in layers for t in ("attn", "ov", "ffn")) + " |")
    return "\n".join(lines)


def write_report(out: Path, rows: list[dict], summ: dict, machine: dict) -> str:
    report = table(rows, summ)
    (out / "evaluation.json").write_text(json.dumps({"machine": machine, "summary": summ, "pairs": rows}, indent=1))
    md = ["# Evaluation suite (`python -m bench.evaluate`)", "", __doc__.split("\n\n", 2)[2].strip(), "",
          f"Machine: {machine['platform']}, torch {machine['torch']}, {machine['cpus']} threads; "
          f"{len(rows)} pairs in {machine['seconds']:.0f} s. Loss of B: next-token loss on a fixed English "
          f"paragraph (the SmolLM2 transformers copy: {machine['base_loss']:.2f}), to show each derived model still works.",
          "", report, "",
          "## Leave-one-family-out (default fingerprint)", "", lofo_table(leave_one_family_out(rows)), "",
          "## Lowest derived and highest independent ICS per term", "", per_term_table(rows), "",
          "## Per-term ICS (default fingerprint)", "", terms_table(rows), ""]
    (out / "evaluation.md").write_text("\n".join(md))
    if all("variants" in r for r in rows):
        (out / "language_structure.md").write_text(language_structure.report(rows))
    return report


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.evaluate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="only pairs whose names contain this text")
    ap.add_argument("--write-null", action="store_true", help="rewrite pretrained/null.json from the independent pairs")
    ap.add_argument("--out", default=str(RESULTS), help="folder for evaluation.md and evaluation.json")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--report-only", action="store_true",
                    help="rewrite evaluation.md from the figures in evaluation.json, scoring nothing")
    args = ap.parse_args(argv)
    if args.report_only:
        d = json.loads((Path(args.out) / "evaluation.json").read_text())
        print(write_report(Path(args.out), d["pairs"], d["summary"], d["machine"]))
        return 0
    progress = not args.no_progress
    t_start = time.perf_counter()
    paths = zoo.build(progress=progress)
    pairs = [p for p in zoo.pairs() if args.only in f"{p.a} vs {p.b}"]
    rows = []
    for p in tqdm(pairs, desc="pairs", unit="pair", disable=not progress, file=sys.stderr):
        r = {"a": p.a, "b": p.b, "derived": p.derived, "group": p.group, **score_pair(paths[p.a], paths[p.b])}
        if p.derived and p.a.startswith("SmolLM2") and (paths[p.b] / "config.json").is_file():
            r["loss_b"] = zoo.lm_loss(paths[p.b])
        rows.append(r)
    calibrate(rows)
    summ = summary(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    machine = {"cpus": torch.get_num_threads(), "torch": torch.__version__, "platform": platform.platform(),
               "readable_fp": __version__, "seconds": round(time.perf_counter() - t_start, 1),
               "base_loss": zoo.lm_loss(paths["SmolLM2 (transformers)"])}
    print(write_report(out, rows, summ, machine))
    if args.write_null and not args.only:
        nl = nulls.Null(null_of(rows, "ours").pairs + null_of(rows, "all").pairs,
                        "Independent pairs of `python -m bench.evaluate` (bench/zoo.py): every pair of the real "
                        f"families {', '.join(zoo.REAL_FAMILIES)} (group 'language models'), and every "
                        f"pair of {zoo.TINY_SEEDS} tiny Llamas trained from different seeds on the same data (group "
                        "'seed controls'); mode 'last2' = readable-fp compare defaults, 'all' = --layers all.")
        nl.write(nulls.SHIPPED)
        print(f"wrote {nulls.SHIPPED}")
    print(f"wrote {out / 'evaluation.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
