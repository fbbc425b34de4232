#!/usr/bin/env python
"""How fast, and in how little memory, readable-fp fingerprints a big checkpoint.

Two measurements, each in a fresh child process so that its peak RSS is its own:

  7b   readable-fp on a synthetic Llama-7B-shaped sharded safetensors checkpoint (random bf16
       weights in the real layout, about 13.5 GB on disk). Targets: <= 60 s, <= 3 GB peak RSS.
  1b   on a TinyLlama-1.1B-shaped checkpoint: the published code's way (from_pretrained of the
       whole model in float32, then the same math on the loaded weights) beside readable-fp.
       Targets: readable-fp at least 10x faster and 5x less peak memory. Both paths must give
       the same terms (the ICS between them is printed; it should be ~100).

Checkpoints are written once under --work-dir (default bench/_work, git-ignored) and reused
while their shape and seed are unchanged. `--shape tiny` runs every code path on a small
shape in seconds (targets are then not applicable).

    python bench/bench_read.py                      # both parts, real shapes
    python bench/bench_read.py --only 1b --cache cold --json-out bench/_work/result.json
    python bench/bench_read.py --shape tiny --tokens 1024
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
GB = 1e9

# Llama-family shapes. hidden/layers/heads/kv heads/ffn/vocab as in the real configs.
SHAPES = {
    "7b": dict(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=32,
               intermediate_size=11008, vocab_size=32000, max_position_embeddings=4096),
    "1b": dict(hidden_size=2048, num_hidden_layers=22, num_attention_heads=32, num_key_value_heads=4,
               intermediate_size=5632, vocab_size=32000, max_position_embeddings=2048),
    # debug shapes: every code path (GQA included) in seconds
    "tiny": dict(hidden_size=256, num_hidden_layers=4, num_attention_heads=8, num_key_value_heads=2,
                 intermediate_size=688, vocab_size=32000, max_position_embeddings=512),
}
TARGET_BIG = dict(seconds=60.0, rss_gb=3.0)
TARGET_SMALL = dict(speedup=10.0, mem_ratio=5.0)
FORMAT_VERSION = 1  # bump when the way checkpoints are written changes
WEIGHT_STD = 0.02   # like Llama's initializer_range
GAIN_STD = 0.05     # norm gains 1 + N(0, 0.05): non-trivial, so gain folding is exercised


# ---------------------------------------------------------------------------------------------
# Writing a synthetic checkpoint, one shard at a time
# ---------------------------------------------------------------------------------------------
def tensor_plan(shape: dict) -> list[tuple[str, tuple[int, ...]]]:
    """(name, shape) in the order Hugging Face saves a LlamaForCausalLM state dict."""
    d, f, v = shape["hidden_size"], shape["intermediate_size"], shape["vocab_size"]
    h, kv = shape["num_attention_heads"], shape["num_key_value_heads"]
    hd = d // h
    out = [("model.embed_tokens.weight", (v, d))]
    for i in range(shape["num_hidden_layers"]):
        p = f"model.layers.{i}."
        out += [(p + "self_attn.q_proj.weight", (h * hd, d)), (p + "self_attn.k_proj.weight", (kv * hd, d)),
                (p + "self_attn.v_proj.weight", (kv * hd, d)), (p + "self_attn.o_proj.weight", (d, h * hd)),
                (p + "mlp.gate_proj.weight", (f, d)), (p + "mlp.up_proj.weight", (f, d)),
                (p + "mlp.down_proj.weight", (d, f)),
                (p + "input_layernorm.weight", (d,)), (p + "post_attention_layernorm.weight", (d,))]
    out += [("model.norm.weight", (d,)), ("lm_head.weight", (v, d))]
    return out


def n_params(shape: dict) -> int:
    n = 0
    for _, s in tensor_plan(shape):
        k = 1
        for x in s:
            k *= x
        n += k
    return n


def make_tensor(name: str, shp: tuple[int, ...], seed: int):
    """Random bf16 tensor, seeded by (seed, name) so it does not depend on the shard layout.
    Filled in row chunks so the float32 transient stays small even for the embedding."""
    import torch
    g = torch.Generator().manual_seed((seed * 1_000_003 + zlib.crc32(name.encode())) % (2 ** 63))
    out = torch.empty(shp, dtype=torch.bfloat16)
    if len(shp) == 1:  # a norm gain
        out.copy_(1.0 + GAIN_STD * torch.randn(shp, generator=g))
        return out
    rows = max(1, (1 << 24) // shp[1])
    for a in range(0, shp[0], rows):
        b = min(shp[0], a + rows)
        out[a:b].copy_(torch.randn((b - a, shp[1]), generator=g).mul_(WEIGHT_STD))
    return out


def write_tokenizer(directory: Path, vocab_size: int) -> None:
    """The tests' WordLevel tokenizer.json: 3 special tokens, then distinct word-like strings."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from helpers import write_tokenizer as write

    write(directory, vocab_size, specials=3)


def marker_for(shape_name: str, seed: int, shard_gb: float) -> dict:
    spec = {"format_version": FORMAT_VERSION, "shape": SHAPES[shape_name], "seed": seed, "shard_gb": shard_gb,
            "weight_std": WEIGHT_STD, "gain_std": GAIN_STD, "dtype": "bfloat16"}
    spec["hash"] = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    return spec


MARKER = "bench_marker.json"


def ensure_checkpoint(work: Path, shape_name: str, seed: int, shard_gb: float, log=print) -> Path:
    """The checkpoint directory for `shape_name`, written now unless an identical one exists."""
    want = marker_for(shape_name, seed, shard_gb)
    d = work / f"llama-{shape_name}"
    try:
        if json.loads((d / MARKER).read_text()).get("hash") == want["hash"]:
            log(f"reusing {d} ({_dir_bytes(d) / GB:.2f} GB)")
            return d
    except (OSError, ValueError):
        pass
    shape = SHAPES[shape_name]
    plan = tensor_plan(shape)
    total = 2 * n_params(shape)
    free = shutil.disk_usage(work if work.exists() else work.parent).free
    if free < total * 1.05:
        raise SystemExit(f"not enough disk under {work}: {total / GB:.1f} GB needed, {free / GB:.1f} GB free")
    # split into shards at tensor boundaries
    limit = shard_gb * GB
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    size = 0
    for name, shp in plan:
        nb = 2
        for x in shp:
            nb *= x
        if shards[-1] and size + nb > limit:
            shards.append([])
            size = 0
        shards[-1].append((name, shp))
        size += nb
    tmp = work / f"llama-{shape_name}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(d, ignore_errors=True)
    tmp.mkdir(parents=True)
    log(f"writing {d}: {n_params(shape) / 1e9:.2f} B parameters, {total / GB:.2f} GB bf16 in {len(shards)} shards")
    from safetensors.torch import save_file
    from transformers import LlamaConfig

    cfg = LlamaConfig(**shape, rms_norm_eps=1e-5, tie_word_embeddings=False, bos_token_id=1, eos_token_id=2,
                      torch_dtype="bfloat16")
    cfg.architectures = ["LlamaForCausalLM"]
    cfg.save_pretrained(tmp)
    write_tokenizer(tmp, shape["vocab_size"])
    weight_map = {}
    t0 = time.perf_counter()
    for k, shard in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        tensors = {name: make_tensor(name, shp, seed) for name, shp in shard}
        save_file(tensors, str(tmp / fname), metadata={"format": "pt"})
        del tensors
        weight_map.update({name: fname for name, _ in shard})
        log(f"  {fname} ({_file_gb(tmp / fname):.2f} GB) {time.perf_counter() - t0:.0f} s")
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    os.sync()
    (tmp / MARKER).write_text(json.dumps(want, indent=2))
    tmp.rename(d)
    return d


def _file_gb(p: Path) -> float:
    return p.stat().st_size / GB


def _dir_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.iterdir() if p.is_file())


def weight_files(d: Path) -> list[Path]:
    return sorted(d.glob("*.safetensors"))


# ---------------------------------------------------------------------------------------------
# Page cache: how much of a checkpoint is cached, and making it cold or warm
# ---------------------------------------------------------------------------------------------
def cached_fraction(files: list[Path]) -> float | None:
    """Fraction of the files' pages in the page cache (mincore), or None where it cannot tell."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_ubyte)]
        page = os.sysconf("SC_PAGE_SIZE")
        cached = total = 0
        for p in files:
            n = p.stat().st_size
            if n == 0:
                continue
            fd = os.open(p, os.O_RDONLY)
            try:
                addr = libc.mmap(None, n, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
                if addr in (None, ctypes.c_void_p(-1).value):
                    return None
                try:
                    pages = (n + page - 1) // page
                    vec = (ctypes.c_ubyte * pages)()
                    if libc.mincore(addr, n, vec) != 0:
                        return None
                    cached += sum(b & 1 for b in bytes(vec))
                    total += pages
                finally:
                    libc.munmap(addr, n)
            finally:
                os.close(fd)
        return cached / total if total else None
    except (OSError, AttributeError):
        return None


def make_cold(files: list[Path]) -> str:
    """Drop the checkpoint from the page cache: drop_caches if allowed, else fadvise(DONTNEED)."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        how = "drop_caches"
    except OSError:
        how = "fadvise"
    for p in files:  # also after drop_caches: harmless, and covers a read-only /proc/sys
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return how


def make_warm(files: list[Path]) -> None:
    if (cached_fraction(files) or 0.0) > 0.99:
        return
    buf = bytearray(16 << 20)
    for p in files:
        with open(p, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def cache_label(frac: float | None) -> str:
    if frac is None:
        return "?"
    return "cold" if frac < 0.05 else "warm" if frac > 0.95 else f"{100 * frac:.0f}% cached"


# ---------------------------------------------------------------------------------------------
# The measured child processes
# ---------------------------------------------------------------------------------------------
def child_main(a: argparse.Namespace) -> None:
    """One measurement. Writes a JSON result; peak RSS is taken before any terms are saved."""
    t_start = time.perf_counter()
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    res: dict = {"mode": a.mode, "threads": torch.get_num_threads()}
    t0 = time.perf_counter()
    if a.mode == "ours":
        import readable_fp
        from readable_fp.api import open_model
        ckpt = open_model(a.dir)  # what invariants() does first; kept so its read time can be reported
        inv = readable_fp.invariants(ckpt, n_tokens=a.tokens, progress=False)
        res["call_s"] = time.perf_counter() - t0
        res["read_s"] = ckpt.stats.seconds  # time inside Checkpoint.get: reading + hashing + float32
        res["math_s"] = res["call_s"] - res["read_s"]
        res["bytes_read"] = inv.info.get("bytes_read")
    else:
        inv, parts = full_load_invariants(a.dir, a.tokens)
        res["call_s"] = time.perf_counter() - t0
        res.update(parts)
    res["rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    res["in_process_s"] = time.perf_counter() - t_start
    res["n_probes"] = len(inv.probes)
    res["layers"] = inv.layers
    if a.terms_out:
        inv.save(a.terms_out)
    Path(a.result).write_text(json.dumps(res))


def full_load_invariants(directory: str, n_tokens: int):
    """The published code's way: the whole model through from_pretrained in float32, then the
    same math (same probe strings, same layers, same terms) on the loaded module weights."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM

    from readable_fp.adapters import Layer
    from readable_fp.language_structure import gram
    from readable_fp.model_terms import DEFAULT_LAYERS, Invariants, resolve_layers
    from readable_fp.terms import layer_terms
    from readable_fp.vocab import choose_probes, load_hf_vocab, probe_table

    transformers.utils.logging.disable_progress_bar()
    t0 = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32)
    model.eval()
    t_load = time.perf_counter() - t0
    cfg = model.config
    table = probe_table(load_hf_vocab(Path(directory)))
    probes = choose_probes([table], n_tokens)
    ids = torch.as_tensor([table[s] for s in probes], dtype=torch.long)
    n = cfg.num_hidden_layers
    chosen = resolve_layers(list(DEFAULT_LAYERS), n)
    terms = {}
    with torch.no_grad():
        X = model.get_input_embeddings().weight[ids].float()
        for i in chosen:
            blk = model.model.layers[i]
            at, mlp = blk.self_attn, blk.mlp
            L = Layer(q=at.q_proj.weight, k=at.k_proj.weight, v=at.v_proj.weight, o=at.o_proj.weight,
                      up=mlp.up_proj.weight, down=mlp.down_proj.weight,
                      n_heads=cfg.num_attention_heads, n_kv=cfg.num_key_value_heads,
                      attn_gain=blk.input_layernorm.weight, ffn_gain=blk.post_attention_layernorm.weight)
            L.check(f"layer {i}")
            for t, m in layer_terms(X, L).items():
                terms[f"{t}@{i}"] = m
    inv = Invariants(probes, chosen, n, terms, {"source": directory, "format": "from_pretrained (full load)"},
                     gram(X))
    return inv, {"read_s": t_load, "math_s": time.perf_counter() - t0 - t_load}


def run_child(mode: str, directory: Path, args, terms_out: Path | None, cache: str) -> dict:
    files = weight_files(directory)
    how = None
    if cache == "cold":
        how = make_cold(files)
    elif cache == "warm":
        make_warm(files)
    frac = cached_fraction(files)
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result = Path(f.name)
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", "--mode", mode, "--dir", str(directory),
           "--tokens", str(args.tokens), "--result", str(result)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    if terms_out:
        cmd += ["--terms-out", str(terms_out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd)
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    try:
        if proc.returncode != 0:
            raise SystemExit(f"{mode} run on {directory} failed (exit {proc.returncode})")
        res = json.loads(result.read_text())
    finally:
        result.unlink(missing_ok=True)
    res.update(process_s=wall, rss_process_bytes=ru.ru_maxrss * 1024, cache=cache_label(frac),
               cached_fraction=frac, evicted_with=how)
    return res


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------
def verdict(ok: bool, applicable: bool) -> str:
    return ("PASS" if ok else "FAIL") if applicable else "n/a"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["7b", "1b"], action="append",
                    help="run only this part (repeatable); default both")
    ap.add_argument("--shape", choices=["real", "tiny"], default="real",
                    help="'tiny' runs both parts on a small debug shape (targets then n/a)")
    ap.add_argument("--big-shape", choices=list(SHAPES), help="shape of the '7b' part (default 7b)")
    ap.add_argument("--small-shape", choices=list(SHAPES), help="shape of the '1b' part (default 1b)")
    ap.add_argument("--tokens", type=int, default=4096, help="probe tokens T (default 4096)")
    ap.add_argument("--work-dir", type=Path, default=HERE / "_work", help="where checkpoints live (default bench/_work)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--shard-gb", type=float, default=4.0, help="shard size when writing (default 4 GB)")
    ap.add_argument("--cache", choices=["warm", "cold", "asis"], default="warm",
                    help="page cache before each run: warm (read the files first), cold (evict them), "
                         "asis (leave it; the state is still reported). Default warm")
    ap.add_argument("--drop-caches", action="store_true", help="same as --cache cold")
    ap.add_argument("--threads", type=int, default=0, help="torch threads in the runs (default: torch's own)")
    ap.add_argument("--no-check", action="store_true", help="skip the ICS check between the two 1b paths")
    ap.add_argument("--json-out", type=Path, help="also write the figures as JSON here")
    ap.add_argument("--write-only", action="store_true", help="write (or verify) the checkpoints and stop")
    a = ap.parse_args(argv)
    if a.drop_caches:
        a.cache = "cold"
    parts = a.only or ["7b", "1b"]
    big = a.big_shape or ("tiny" if a.shape == "tiny" else "7b")
    small = a.small_shape or ("tiny" if a.shape == "tiny" else "1b")
    a.work_dir.mkdir(parents=True, exist_ok=True)

    dirs = {}
    if "7b" in parts:
        dirs["7b"] = ensure_checkpoint(a.work_dir, big, a.seed, a.shard_gb)
    if "1b" in parts:
        dirs["1b"] = dirs["7b"] if "7b" in dirs and small == big else ensure_checkpoint(a.work_dir, small, a.seed, a.shard_gb)
    if a.write_only:
        return 0

    import torch  # only for the report's environment line
    report: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                "python": platform.python_version(), "torch": torch.__version__,
                                "torch_threads": a.threads or torch.get_num_threads()},
                    "tokens": a.tokens, "cache": a.cache, "runs": [], "checks": {}}
    rows = []

    if "7b" in parts:
        r = run_child("ours", dirs["7b"], a, None, a.cache)
        r.update(part="7b", shape=big, path="readable-fp", checkpoint_gb=_dir_bytes(dirs["7b"]) / GB)
        report["runs"].append(r)
        ok_s, ok_m = r["process_s"] <= TARGET_BIG["seconds"], r["rss_bytes"] / GB <= TARGET_BIG["rss_gb"]
        applicable = big == "7b"
        report["checks"]["7b"] = {"seconds": r["process_s"], "rss_gb": r["rss_bytes"] / GB,
                                  "target": TARGET_BIG, "pass": ok_s and ok_m if applicable else None}
        rows.append((big, "readable-fp", r,
                     f"{r['process_s'] / TARGET_BIG['seconds']:.2f} of 60 s, "
                     f"{r['rss_bytes'] / GB / TARGET_BIG['rss_gb']:.2f} of 3 GB",
                     verdict(ok_s and ok_m, applicable)))

    if "1b" in parts:
        tmp = Path(tempfile.mkdtemp(prefix="bench_terms_", dir=a.work_dir))
        check = not a.no_check
        try:
            full = run_child("full", dirs["1b"], a, tmp / "full.safetensors" if check else None, a.cache)
            ours = run_child("ours", dirs["1b"], a, tmp / "ours.safetensors" if check else None, a.cache)
            for r, p in ((full, "full load (published)"), (ours, "readable-fp")):
                r.update(part="1b", shape=small, path=p, checkpoint_gb=_dir_bytes(dirs["1b"]) / GB)
                report["runs"].append(r)
            speed = full["process_s"] / ours["process_s"]
            mem = full["rss_bytes"] / ours["rss_bytes"]
            ok = speed >= TARGET_SMALL["speedup"] and mem >= TARGET_SMALL["mem_ratio"]
            applicable = small == "1b"
            chk = {"speedup": speed, "mem_ratio": mem, "target": TARGET_SMALL, "pass": ok if applicable else None}
            if check:
                from readable_fp.compare import compare_invariants
                from readable_fp.model_terms import Invariants
                c = compare_invariants(Invariants.load(tmp / "full.safetensors"), Invariants.load(tmp / "ours.safetensors"))
                chk["ics_full_vs_ours"] = c.ics
                chk["ics_per_term"] = {f"{t.term}@{t.layer_a}": t.ics for t in c.terms}
                chk["same_probes"] = c.n_tokens == full["n_probes"] == ours["n_probes"]
            report["checks"]["1b"] = chk
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        rows.append((small, "full load (published)", full, "", ""))
        rows.append((small, "readable-fp", ours,
                     f"{speed:.1f}x faster (>=10), {mem:.1f}x less RSS (>=5)", verdict(ok, applicable)))

    print()
    print(f"T = {a.tokens} probe tokens, torch threads {report['machine']['torch_threads']}, "
          f"{os.cpu_count()} CPUs, cache mode '{a.cache}'")
    hdr = (f"{'shape':<6} {'path':<22} {'cache':<10} {'process s':>9} {'call s':>7} {'read s':>7} {'math s':>7} "
           f"{'peak RSS GB':>11} {'read GB':>8}  {'vs target':<44} verdict")
    print(hdr)
    print("-" * len(hdr))
    for shape, path, r, vs, v in rows:
        rd = f"{r['bytes_read'] / GB:.3f}" if r.get("bytes_read") is not None else "all"
        print(f"{shape:<6} {path:<22} {r['cache']:<10} {r['process_s']:>9.2f} {r['call_s']:>7.2f} "
              f"{r['read_s']:>7.2f} {r['math_s']:>7.2f} "
              f"{r['rss_bytes'] / GB:>11.2f} {rd:>8}  {vs:<44} {v}")
    c1 = report["checks"].get("1b", {})
    if "ics_full_vs_ours" in c1:
        per = ", ".join(f"{k} {v:.3f}" for k, v in c1["ics_per_term"].items())
        print(f"\nICS(full load, readable-fp) on {small}: {c1['ics_full_vs_ours']:.4f} / 100 "
              f"(same probes: {c1['same_probes']}; {per})")
    print("\nprocess s: the whole child process (python start, imports, reading, math), judged against the targets;\n"
          "call s: from just after importing torch (library import included) = read s (readable-fp: inside Checkpoint.get; full load: "
          "from_pretrained)\n+ math s (probe choice, layer terms). Peak RSS: the child's ru_maxrss, mapped file pages "
          "included;\nGB = 1e9 bytes.")
    if a.shape == "tiny" or big not in ("7b",) or small not in ("1b",):
        print("(debug shape: the targets apply to the real 7b / 1b shapes only)")
    if a.json_out:
        a.json_out.parent.mkdir(parents=True, exist_ok=True)
        a.json_out.write_text(json.dumps(report, indent=2))
        print(f"wrote {a.json_out}")
    failed = [k for k, v in report["checks"].items() if v.get("pass") is False]
    ics = c1.get("ics_full_vs_ours")
    return 1 if failed or (ics is not None and ics < 99.9) else 0


def _child_args(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", choices=["ours", "full"], required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tokens", type=int, required=True)
    ap.add_argument("--result", required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--terms-out")
    return ap.parse_args(argv)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child_main(_child_args(sys.argv[2:]))
    else:
        sys.exit(main())
