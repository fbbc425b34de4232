#!/usr/bin/env python
"""Nearest-neighbour search over fingerprint search vectors: exact numpy brute force vs ANN indexes.

Question: is `readable_fp.index_search.top_k` (exact, chunked brute force in numpy) fast enough
for an index of fingerprints, or does an approximate-nearest-neighbour (ANN) library earn its
place as a dependency? This script measures both on synthetic data shaped like the real vectors.

Data. Each entry's search vector has D = 576 float32 dims: 6 channels x 96 dims, each channel a
unit vector (a Gaussian random projection of a unit vector is, up to scale, a random direction),
so every entry has norm sqrt(6) and dot / 6 estimates the similarity of two models (0 for
unrelated, 1 for the same weights). N entries are drawn from numpy's default_rng(seed), in chunks
so that 1M entries never need more than the final 2.3 GB matrix. Queries (--queries, default
100): the first half are "derived models" - a random entry mixed per channel as 0.8 * entry + 0.6
* fresh unit noise and renormalised, so dot / 6 with its source is about 0.8 - and the second half
"unrelated models", fresh random vectors. Every query wants the top 10 by dot product.

Methods, each at every size of --sizes (default 10,000 and 1,000,000):
  brute f32     top_k on the float32 matrix, as shipped (the exact reference)
  brute f16     top_k on a float16 copy (half the memory; top_k upcasts chunk by chunk)
  usearch f32 / f16   HNSW, metric 'ip', connectivity (M) 16, expansion_add (efConstruction) 64
  faiss HNSW    IndexHNSWFlat, METRIC_INNER_PRODUCT, M 16, efConstruction 64
  faiss IVF     IndexIVFFlat, METRIC_INNER_PRODUCT, nlist ~ sqrt(N), trained on <= 40 x nlist rows
HNSW indexes are searched at ef 64 and 256, IVF at nprobe 8 and 32: search-time knobs, so one
build gives two rows.

Figures per row: build s (brute force: 0; it is the matrix itself), index MB and bytes per entry
(usearch's own memory_usage; for faiss the vectors, graph links and ids it holds, approximately),
the median ms of --single single-query searches (half derived, half unrelated), the median ms of
--repeats searches of the whole query batch, recall@10 (mean fraction of brute force f32's
top 10 found, all queries) and recall@1 derived (fraction of the derived queries whose source
entry comes first - the case an index lookup exists for).

Time limits. HNSW builds cost minutes at 1M on 2 cores, so every ANN index is built in chunks of
--chunk rows; after each chunk the time to finish is projected (the last chunk's rate, scaled by
log N / log n because an HNSW insert walks a graph whose depth grows with log n). If the
projection passes --max-build-s or the run's --deadline-min, the build stops there and the row
reports the partial index (its first n entries, with queries and exact results made from those n
entries) plus the measured time and the projected total. No single run can so exceed the deadline
by more than one chunk and one evaluation.

    python bench/vector_search.py                          # 10k and 1M, ~25 minutes at most
    python bench/vector_search.py --sizes 10000 --out bench/_work/vs.md
"""
from __future__ import annotations

import argparse
import datetime
import math
import os
import platform
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHANNELS, CH_DIM = 6, 96
D = CHANNELS * CH_DIM
K = 10
MB = 1e6


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="10000,1000000", help="comma-separated index sizes N")
    p.add_argument("--queries", type=int, default=100, help="queries per size (half derived)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "vector_search.md"))
    p.add_argument("--threads", type=int, default=2, help="BLAS / OpenMP / usearch threads")
    p.add_argument("--single", type=int, default=20, help="single-query searches timed per row")
    p.add_argument("--repeats", type=int, default=3, help="timed searches of the whole batch")
    p.add_argument("--chunk", type=int, default=50_000, help="rows per ANN add call")
    p.add_argument("--max-build-s", type=float, default=720.0,
                   help="stop an ANN build whose projected total passes this")
    p.add_argument("--deadline-min", type=float, default=24.0,
                   help="stop ANN builds projected to end past this many minutes of the run")
    p.add_argument("--only", default="", help="comma-separated method prefixes to run (default all)")
    return p.parse_args(argv)


args = parse_args() if __name__ == "__main__" else None
if args is not None:
    # Before numpy loads: OpenBLAS and OpenMP size their thread pools at import time, and the
    # machine is shared, so every library gets the same --threads.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)

import numpy as np

sys.path.insert(0, str(ROOT))
from readable_fp.index_search import top_k

# ----------------------------------------------------------------------------- data

def unit_channels(x: np.ndarray) -> np.ndarray:
    """Rows of (n, 576) with each 96-dim channel scaled to unit norm, in place."""
    v = x.reshape(len(x), CHANNELS, CH_DIM)
    v /= np.linalg.norm(v, axis=2, keepdims=True)
    return x


def make_entries(n: int, seed: int, chunk: int = 100_000) -> np.ndarray:
    """n random search vectors, float32; drawn chunk by chunk so the float64 temporaries of a
    full-size draw never exist (the chunk size is fixed so a seed gives the same rows)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, D), dtype=np.float32)
    for s in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - s), D), dtype=np.float32)
        out[s:s + len(block)] = unit_channels(block)
    return out


def make_queries(entries: np.ndarray, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(queries, sources): the first half derived from random entries (source index), the rest
    fresh random vectors (source -1)."""
    rng = np.random.default_rng([seed, len(entries)])
    n_der = n_queries // 2
    src = rng.choice(len(entries), size=n_der, replace=False)
    noise = unit_channels(rng.standard_normal((n_der, D), dtype=np.float32))
    derived = unit_channels(0.8 * entries[src] + 0.6 * noise)
    fresh = unit_channels(rng.standard_normal((n_queries - n_der, D), dtype=np.float32))
    q = np.ascontiguousarray(np.concatenate([derived, fresh]), dtype=np.float32)
    return q, np.concatenate([src, np.full(n_queries - n_der, -1)])


# ----------------------------------------------------------------------------- methods
# Each method: build(x, budget) -> (handle, built_rows, build_s, note); search(handle, q, k, knob)
# -> indices; nbytes(handle) -> int. `knob` is the search-time parameter of the row.

class Stopped(Exception):
    pass


def chunked_add(add, n_total: int, chunk: int, budget) -> tuple[int, float, str]:
    """Call add(start, stop) chunk by chunk until done or the projected total passes the budget.
    Returns (rows added, seconds, note)."""
    t0 = time.perf_counter()
    done = 0
    while done < n_total:
        stop = min(n_total, done + chunk)
        tc = time.perf_counter()
        add(done, stop)
        rate = (stop - done) / max(time.perf_counter() - tc, 1e-9)
        done = stop
        if done == n_total:
            break
        elapsed = time.perf_counter() - t0
        # Inserts get slower as the graph deepens: scale the last rate by log N / log n.
        projected = elapsed + (n_total - done) / rate * math.log(n_total) / math.log(done)
        # 60 s kept for evaluating what was built.
        finish = time.monotonic() + projected - elapsed + 60
        if projected > budget.max_build_s or finish > budget.deadline:
            return done, elapsed, (f"stopped at {done:,} of {n_total:,} rows after {elapsed:.0f} s; "
                                   f"projected full build {projected:.0f} s")
    return done, time.perf_counter() - t0, ""


class Brute:
    def __init__(self, dtype):
        self.dtype = dtype
        self.name = f"brute {np.dtype(dtype).name.replace('float', 'f')}"
        self.knobs = [None]
        self.params = "numpy top_k, exact"

    def build(self, x, budget):
        m = x if self.dtype == np.float32 else x.astype(self.dtype)
        return m, len(x), 0.0, ""

    def search(self, m, q, k, knob):
        return top_k(m, q, k)[0]

    def nbytes(self, m):
        return m.nbytes


class USearch:
    def __init__(self, dtype, threads, chunk):
        self.dtype, self.threads, self.chunk = dtype, threads, chunk
        self.name = f"usearch {dtype}"
        self.knobs = [64, 256]
        self.params = "HNSW M16 efC64"

    def build(self, x, budget):
        from usearch.index import Index
        idx = Index(ndim=D, metric="ip", dtype=self.dtype, connectivity=16, expansion_add=64)

        def add(a, b):
            idx.add(np.arange(a, b), x[a:b], threads=self.threads)
        n, secs, note = chunked_add(add, len(x), self.chunk, budget)
        return idx, n, secs, note

    def search(self, idx, q, k, knob):
        idx.expansion_search = knob
        if q.ndim == 1:
            return idx.search(q, k).keys[None].astype(np.int64)
        return idx.search(q, k, threads=self.threads).keys.astype(np.int64)

    def nbytes(self, idx):
        return int(idx.memory_usage)


class FaissHNSW:
    def __init__(self, chunk):
        self.chunk = chunk
        self.name = "faiss HNSW"
        self.knobs = [64, 256]
        self.params = "HNSWFlat M16 efC64"

    def build(self, x, budget):
        import faiss
        ix = faiss.IndexHNSWFlat(D, 16, faiss.METRIC_INNER_PRODUCT)
        ix.hnsw.efConstruction = 64
        n, secs, note = chunked_add(lambda a, b: ix.add(x[a:b]), len(x), self.chunk, budget)
        return ix, n, secs, note

    def search(self, ix, q, k, knob):
        ix.hnsw.efSearch = knob
        return ix.search(np.atleast_2d(q), k)[1]

    def nbytes(self, ix):
        h = ix.hnsw  # float32 vectors + int32 links + per-node offsets and levels
        return ix.ntotal * D * 4 + h.neighbors.size() * 4 + h.offsets.size() * 8 + h.levels.size() * 4


class FaissIVF:
    def __init__(self, chunk):
        self.chunk = chunk
        self.name = "faiss IVF"
        self.knobs = [8, 32]
        self.params = ""

    def build(self, x, budget):
        import faiss
        nlist = max(16, round(math.sqrt(len(x))))
        self.params = f"IVFFlat nlist {nlist}"
        quant = faiss.IndexFlatIP(D)
        ix = faiss.IndexIVFFlat(quant, D, nlist, faiss.METRIC_INNER_PRODUCT)
        # faiss warns below 39 rows per centroid; 40 x nlist is enough for k-means and keeps
        # training a fixed cost rather than a full pass over 1M rows per iteration.
        rng = np.random.default_rng(0)
        sample = x[np.sort(rng.choice(len(x), size=min(len(x), 40 * nlist), replace=False))]
        t0 = time.perf_counter()
        ix.train(sample)
        train_s = time.perf_counter() - t0
        n, secs, note = chunked_add(lambda a, b: ix.add(x[a:b]), len(x), self.chunk, budget)
        self.params += f" (train {train_s:.1f} s on {len(sample):,} rows)"
        return ix, n, train_s + secs, note

    def search(self, ix, q, k, knob):
        ix.nprobe = knob
        return ix.search(np.atleast_2d(q), k)[1]

    def nbytes(self, ix):
        return ix.ntotal * (D * 4 + 8) + ix.nlist * D * 4  # vectors + int64 ids + centroids


# ----------------------------------------------------------------------------- measurement

class Budget:
    def __init__(self, max_build_s, deadline):
        self.max_build_s, self.deadline = max_build_s, deadline


def timed(fn, *a) -> tuple[float, object]:
    """(milliseconds, result) of fn(*a)."""
    t = time.perf_counter()
    out = fn(*a)
    return (time.perf_counter() - t) * 1e3, out


def single_sample(n_queries: int, n_single: int) -> np.ndarray:
    """Query indices for single-query timing: alternately derived and unrelated."""
    half = n_queries // 2
    der = np.arange(half)
    unr = np.arange(half, n_queries)
    out = [i for pair in zip(der, unr) for i in pair]
    return np.array(out[:n_single], dtype=np.int64)


def evaluate(method, handle, q, src, exact, args) -> list[dict]:
    """One row per search knob: latencies and recall against `exact` (indices, Q x K)."""
    rows = []
    n_der = int((src >= 0).sum())
    singles = single_sample(len(q), args.single)
    for knob in method.knobs:
        method.search(handle, q[0], K, knob)  # warm-up: first-call allocations are not search
        single = [timed(method.search, handle, q[i], K, knob)[0] for i in singles]
        batch = [timed(method.search, handle, q, K, knob) for _ in range(args.repeats)]
        got = np.asarray(batch[-1][1])
        hits = [len(set(got[i].tolist()) & set(exact[i].tolist())) for i in range(len(q))]
        top1 = float(np.mean(got[:n_der, 0] == src[:n_der])) if n_der else float("nan")
        rows.append({"knob": knob, "single_ms": float(np.median(single)),
                     "batch_ms": float(np.median([ms for ms, _ in batch])),
                     "recall10": float(np.mean(hits)) / K, "recall1_derived": top1})
    return rows


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB  # Linux: KiB


def run_size(n, args, methods, budget, log, levels) -> list[dict]:
    t = time.perf_counter()
    x = make_entries(n, args.seed)
    q, src = make_queries(x, args.queries, args.seed)
    log(f"N={n:,}: data {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    exact, scores = top_k(x, q, K)
    log(f"N={n:,}: exact top-{K} of the batch {time.perf_counter() - t:.1f} s")
    der = src >= 0
    # What the queries look like, so the recall figures can be read: the derived queries' best
    # match (their source) against the noise level of everyone's 10th best.
    levels.append(f"N = {n:,}: dot / 6 of the exact best match, derived queries "
                  f"{np.mean(scores[der, 0]) / CHANNELS:.3f} (mean; source ranked first in "
                  f"{np.mean(exact[der, 0] == src[der]):.0%}), unrelated queries "
                  f"{np.mean(scores[~der, 0]) / CHANNELS:.3f}; 10th best, unrelated queries "
                  f"{np.mean(scores[~der, K - 1]) / CHANNELS:.3f}")
    out = []
    for m in methods:
        handle, built, build_s, note = m.build(x, budget)
        nbytes = m.nbytes(handle)
        if built < n:
            # Partial build: compare like with like, on the rows that made it in.
            xp = x[:built]
            qp, srcp = make_queries(xp, args.queries, args.seed)
            ex = top_k(xp, qp, K)[0]
            rows = evaluate(m, handle, qp, srcp, ex, args)
        else:
            rows = evaluate(m, handle, q, src, exact, args)
        del handle
        for r in rows:
            r.update(n=n, built=built, method=m.name, params=m.params, build_s=build_s,
                     nbytes=nbytes, note=note)
            knob = "" if r["knob"] is None else (f"nprobe {r['knob']}" if "IVF" in m.name
                                                 else f"ef {r['knob']}")
            r["search"] = knob
            out.append(r)
            log(f"N={n:,} {m.name} {knob}: build {build_s:.1f} s, {nbytes / MB:.0f} MB, "
                f"single {r['single_ms']:.2f} ms, batch {r['batch_ms']:.1f} ms, "
                f"recall@10 {r['recall10']:.3f}, recall@1 derived {r['recall1_derived']:.2f}"
                + (f" [{note}]" if note else "") + f"; peak RSS {peak_rss_mb():.0f} MB")
    del x
    return out


def table(rows) -> str:
    head = ("| N | method | params | search | build s | index MB | bytes/entry | single-query ms "
            "(median) | batch of {q} ms (median) | recall@10 | recall@1 derived |")
    lines = [head, "|" + "---|" * 11]
    for r in rows:
        n = f"{r['n']:,}" if r["built"] == r["n"] else f"{r['n']:,} (partial: {r['built']:,})"
        lines.append(
            f"| {n} | {r['method']} | {r['params']} | {r['search']} | {r['build_s']:.1f} | "
            f"{r['nbytes'] / MB:,.0f} | {r['nbytes'] / max(r['built'], 1):,.0f} | "
            f"{r['single_ms']:.2f} | {r['batch_ms']:.1f} | {r['recall10']:.3f} | "
            f"{r['recall1_derived']:.2f} |")
    return "\n".join(lines)


def versions() -> str:
    import importlib.metadata as md
    parts = [f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    for pkg in ("usearch", "faiss-cpu"):
        try:
            parts.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            parts.append(f"{pkg} not installed")
    return ", ".join(parts)


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> int:
    a = args
    t_run = time.monotonic()
    budget = Budget(a.max_build_s, t_run + a.deadline_min * 60)

    def log(msg):
        print(f"[{(time.monotonic() - t_run) / 60:5.1f} min] {msg}", flush=True)

    methods = [Brute(np.float32), Brute(np.float16)]
    try:
        import faiss
        faiss.omp_set_num_threads(a.threads)
        methods += [FaissIVF(a.chunk), FaissHNSW(a.chunk)]
    except ImportError:
        log("faiss-cpu not installed: skipped")
    try:
        import usearch.index  # noqa: F401
        # f16 before f32: it builds faster here, so if the deadline cuts one it cuts f32.
        methods += [USearch("f16", a.threads, a.chunk), USearch("f32", a.threads, a.chunk)]
    except ImportError:
        log("usearch not installed: skipped")
    if a.only:
        keep = [s.strip() for s in a.only.split(",") if s.strip()]
        methods = [m for m in methods if any(m.name.startswith(s) for s in keep)]

    rows, levels = [], []
    load_start = os.getloadavg()[0]
    for n in [int(s.replace("_", "")) for s in a.sizes.split(",") if s.strip()]:
        rows += run_size(n, a, methods, budget, log, levels)
    load_end = os.getloadavg()[0]

    minutes = (time.monotonic() - t_run) / 60
    ru = resource.getrusage(resource.RUSAGE_SELF)
    cpu_share = (ru.ru_utime + ru.ru_stime) / max(minutes * 60, 1e-9)  # cores' worth this run got
    notes = [r for r in rows if r["note"] and r["search"] in ("ef 64", "nprobe 8")]
    md = [
        "# Nearest-neighbour search: numpy brute force vs ANN indexes",
        "",
        "`" + " ".join(["python bench/vector_search.py", *sys.argv[1:]]) + "`",
        "",
        f"- date: {datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')}",
        (f"- machine: {cpu_name()}, {os.cpu_count()} cores; {a.threads} threads for BLAS, "
         f"faiss (OpenMP) and usearch"),
        f"- versions: {versions()}",
        (f"- data: D = {D} float32 (6 channels x 96, each a unit vector), seed {a.seed}; "
         f"{a.queries} queries, {a.queries // 2} derived (0.8 x entry + 0.6 x noise per channel, "
         f"renormalised) and {a.queries - a.queries // 2} unrelated; top-{K} by dot product"),
        (f"- stored bytes per entry: float32 {D * 4:,} B, float16 {D * 2:,} B "
         f"(1M entries: {D * 4 * 1e6 / 1e9:.2f} GB / {D * 2 * 1e6 / 1e9:.2f} GB)"),
        (f"- run: {minutes:.1f} min, peak RSS {peak_rss_mb():,.0f} MB, CPU time / wall time "
         f"{cpu_share:.2f} (at most {a.threads}); 1-minute load average "
         f"{load_start:.1f} at the start and {load_end:.1f} at the end (this run adds up to {a.threads}; "
         f"anything above that on {os.cpu_count()} cores means other processes shared them and "
         f"the times are inflated)"),
        *[f"- scores at {lv}" for lv in levels],
        "",
        table(rows).replace("{q}", str(a.queries)),
        "",
        ("- recall@10: mean fraction of brute force f32's top 10 found, over all queries; the "
         "unrelated queries' top 10 are near-ties of noise (see the scores above), so most misses "
         "there are of no practical consequence."),
        "- recall@1 derived: fraction of the derived queries whose source entry is ranked first.",
        (f"- single-query ms: median of {a.single} searches of one query, half derived and half "
         f"unrelated; batch ms: median of {a.repeats} searches of all {a.queries} queries."),
        ("- index MB: brute force, the matrix; usearch, its `memory_usage`; faiss, vectors + graph "
         "links (HNSW) or vectors + ids + centroids (IVF), counted from the index's sizes."),
        "- build s: brute force 0 (the matrix is the index); IVF includes k-means training.",
    ]
    for r in notes:
        md.append(f"- {r['method']} at N = {r['n']:,}: {r['note']}. Its rows are measured on the "
                  f"partial index of the first {r['built']:,} entries, against brute force over the "
                  f"same entries, with queries made from them.")
    text = "\n".join(md) + "\n"
    print()
    print(text)
    out = Path(a.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
