"""Identify every derived model of the evaluation suite against an index of its bases and independents.

    python -m bench.identify_eval            # writes bench/results/identify.md and identify.json

The index (`readable-fp index add --save-invariants`, on a local Ray runtime with 2 workers) holds
every model of bench/zoo.py that is not derived-only: the bases (SmolLM2-135M as GGUF and as
transformers, all-MiniLM-L6-v2, tiny seed 0) and the independent models (the six real families,
tiny seeds 1-7). Then:
- every derived model is identified: its top-1 must be an entry of its base's family (SmolLM2's two
  copies are one family), with the exact ICS and verdict from the kept invariants;
- every indexed independent model is identified against the index without its own family: no
  candidate may be called "same base".
Index build time gives the throughput per core; the index's bytes per entry are reported.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from bench import zoo
from readable_fp.identify import identify
from readable_fp.index_build import add, normal_ref
from readable_fp.index_store import Index

RESULTS = Path(__file__).resolve().parent / "results"
FAMILY = {"SmolLM2 (transformers)": "SmolLM2-135M"}  # one base, two copies


def family(name: str) -> str:
    return FAMILY.get(name, name)


def indexed(pairs) -> list[str]:
    bases = {p.a for p in pairs if p.derived}
    independents = {m for p in pairs if not p.derived for m in (p.a, p.b)}
    return sorted(bases | independents)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.identify_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--index", default=str(zoo.CACHE / "identify-index"), help="where the index is built (kept)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--top", type=int, default=3)
    ap.add_argument("--out", default=str(RESULTS))
    ap.add_argument("--report-only", action="store_true", help="rewrite identify.md from identify.json")
    args = ap.parse_args(argv)
    if args.report_only:
        d = json.loads((Path(args.out) / "identify.json").read_text())
        (Path(args.out) / "identify.md").write_text(report(d["summary"], d["rows"]))
        return 0
    paths = zoo.build(progress=False)
    pairs = zoo.pairs()
    names = indexed(pairs)
    by_ref = {normal_ref(str(paths[n])): n for n in names}
    t0 = time.perf_counter()
    rep = add([str(paths[n]) for n in names], args.index, workers=args.workers, memory_gb=4, save_invariants=True,
              progress=True)
    build = {"added": len(rep.added), "skipped": len(rep.skipped), "failed": rep.failed,
             "seconds": round(time.perf_counter() - t0, 1), "workers": args.workers}
    parts = Index(args.index).parts()
    rows = []
    queries = [(p.b, family(p.a), "derived", p.group) for p in pairs if p.derived]
    queries += [(n, None, "independent", "indexed independent") for n in names]
    for name, want, kind, group in queries:
        excluded = [r for r, n in by_ref.items() if family(n) == family(name)] if kind == "independent" else \
            [r for r, n in by_ref.items() if n == name]
        t = time.perf_counter()
        res = identify(str(paths[name]), args.index, top=args.top, progress=False, exclude=excluded)
        top1 = res.candidates[0]
        got = family(by_ref[top1.ref])
        same = [c for c in res.candidates if c.verdict == "same base"]
        ok = (got == want and top1.verdict == "same base") if kind == "derived" else not same
        rows.append({"query": name, "kind": kind, "group": group, "expected": want, "top1": by_ref[top1.ref],
                     "estimated_ics": top1.estimated_ics, "ics": top1.ics, "verdict": top1.verdict, "p": top1.p,
                     "second": by_ref[res.candidates[1].ref] if len(res.candidates) > 1 else None,
                     "second_estimated_ics": res.candidates[1].estimated_ics if len(res.candidates) > 1 else None,
                     "ok": ok, "seconds": round(time.perf_counter() - t, 1)})
        print(f"{'ok ' if ok else 'BAD'} {name} -> {by_ref[top1.ref]} est {top1.estimated_ics} ICS {top1.ics} "
              f"{top1.verdict}", file=sys.stderr)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    size = sum(p.stat().st_size for p in parts)
    summary = {"index_entries": len(names), "index_bytes": size, "bytes_per_entry": round(size / len(names)),
               "build": build, "derived_top1_correct": sum(r["ok"] for r in rows if r["kind"] == "derived"),
               "derived": sum(r["kind"] == "derived" for r in rows),
               "independent_ok": sum(r["ok"] for r in rows if r["kind"] == "independent"),
               "independent": sum(r["kind"] == "independent" for r in rows), "cpus": os.cpu_count()}
    (out / "identify.json").write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")
    text = report(summary, rows)
    (out / "identify.md").write_text(text)
    print(text)
    return 0 if all(r["ok"] for r in rows) else 1


def report(s: dict, rows: list[dict]) -> str:
    b = s["build"]
    lines = [
        "# Identify: every derived model of the evaluation suite against its bases and independents",
        "",
        f"`python -m bench.identify_eval`: an index of {s['index_entries']} models (bench/zoo.py's bases and "
        f"independent models, with invariants), {s['bytes_per_entry']:,} bytes per entry in Parquet "
        f"(invariants apart), {s['cpus']} CPUs. " + (
            f"Built by `index add` on a local Ray runtime with {b['workers']} workers in {b['seconds']} s."
            if not b["skipped"] else f"The index was kept from an earlier run ({b['skipped']} models already "
            "there); build speed: `bench/index_throughput.py`."),
        "",
        f"- Derived models whose top-1 is their base's family, called 'same base': **{s['derived_top1_correct']} of "
        f"{s['derived']}**",
        f"- Indexed independent models (searched without their own family) with no candidate called 'same base': "
        f"**{s['independent_ok']} of {s['independent']}**",
        "",
        "| query | kind | expected base | top-1 | ICS est. | ICS | verdict | 2nd (est.) | ok |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        second = f"{r['second']} ({r['second_estimated_ics']})" if r["second"] else "-"
        lines.append(f"| {r['query']} | {r['group']} | {r['expected'] or '-'} | {r['top1']} | {r['estimated_ics']} | "
                     f"{r['ics']} | {r['verdict']} | {second} | {'yes' if r['ok'] else '**NO**'} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
