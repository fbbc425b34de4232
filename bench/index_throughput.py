"""Index build throughput: `index add` of the evaluation suite's indexed models on a local Ray runtime.

    python -m bench.index_throughput [--workers 1 2]     # writes bench/results/index_throughput.md

The same 15 models bench/identify_eval.py indexes (SmolLM2-135M as GGUF and as transformers,
Gemma-3-270m, Qwen2.5-Coder-0.5B, all-MiniLM-L6-v2, all-mpnet-base-v2, DistilBERT, 8 tiny Llamas),
into a fresh index each time (no invariants kept), with 1 and with 2 Ray workers: wall time,
models per second, models per second per worker (a worker is one CPU: Ray runs its tasks with
OMP_NUM_THREADS=1), and bytes per entry; then each model alone without Ray. Ray's start-up and each
worker's first imports are inside the wall time, as a user sees them.
"""
from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import zoo
from bench.identify_eval import indexed
from readable_fp.index_build import add
from readable_fp.index_store import Index

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.index_throughput", description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default=str(RESULTS / "index_throughput.md"))
    args = ap.parse_args(argv)
    paths = zoo.build(progress=False)
    models = [str(paths[n]) for n in indexed(zoo.pairs())]
    lines = ["# Index build throughput (`python -m bench.index_throughput`)", "",
             f"{len(models)} models of the evaluation suite into a fresh index, no invariants kept; "
             f"{platform.machine()}, {os.cpu_count()} CPUs; {time.strftime('%Y-%m-%d')}.", "",
             "| Ray workers | wall s | models/s | models/s per worker | bytes per entry |", "|---|---|---|---|---|"]
    for w in args.workers:
        d = Path(tempfile.mkdtemp(prefix="index-throughput-"))
        t = time.perf_counter()
        rep = add(models, d, workers=w, memory_gb=2, progress=False)
        s = time.perf_counter() - t
        assert not rep.failed, rep.failed
        size = sum(p.stat().st_size for p in Index(d).parts())
        lines.append(f"| {w} | {s:.1f} | {len(models) / s:.2f} | {len(models) / s / w:.2f} | {size / len(models):,.0f} |")
        shutil.rmtree(d)
    # Where the time goes: each model alone, in this process (torch's default threads), no Ray.
    import torch

    from readable_fp.index_build import index_row

    lines += ["", f"Each model alone, in one process, no Ray (torch with {torch.get_num_threads()} threads):", "",
              "| model | s |", "|---|---|"]
    for n in indexed(zoo.pairs()):
        t = time.perf_counter()
        assert "error" not in index_row(str(paths[n]))
        lines.append(f"| {n} | {time.perf_counter() - t:.1f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
