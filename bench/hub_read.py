#!/usr/bin/env python
"""What fingerprinting a big model straight from the Hub costs, against downloading its shards.

For a Llama-2-7B- and a Llama-3-70B-shaped repo (synthetic, sharded safetensors written the way
`save_pretrained` writes them), served over loopback by `tests/hub_server.py` (a real HTTP server
that impersonates the Hugging Face Hub), it runs `readable-fp invariants ORG/NAME` in a fresh child
process and records: wall seconds, file bytes the server sent, requests, which shards were asked
for, and the same again on a second run with the caches it filled (which should send nothing).
It compares the bytes sent with the bytes the read needs (the tensor bytes the terms read, as the
run itself counts them: the last two layers' tensors and the probe tokens' embedding rows; plus the
touched shards' headers and the config, index and tokenizer), and with the old path: `hf_hub_download` of every touched shard, whole (run for 7B; for 70B only
computed, ~15 GB). Targets: 7B <= 1 GB sent, 70B <= 4 GB sent.

The repos are sparse: only the tensors the terms read hold random bf16 bytes; every other tensor
is a hole, so the 70B repo (~141 GB apparent) costs a few GB of disk. They are written once under
--work-dir/repos/bench/ and reused while their marker matches.

    python bench/hub_read.py --only 7b
    python bench/hub_read.py --only 70b            # first build: several minutes, ~6 GB of disk
    python bench/hub_read.py --keep --work-dir /tmp/hubbench
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import platform
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT / "tests")]
from bench_read import SHAPES as READ_SHAPES, make_tensor, tensor_plan, write_tokenizer  # noqa: E402

SHAPES = {
    "7b": READ_SHAPES["7b"],  # Llama-2-7B
    "70b": dict(hidden_size=8192, num_hidden_layers=80, num_attention_heads=64, num_key_value_heads=8,
                intermediate_size=28672, vocab_size=128256, max_position_embeddings=8192),  # Llama-3-70B
}
TARGET_BYTES = {"7b": 1e9, "70b": 4e9}
SHARD_BYTES = 5 * 10**9  # save_pretrained's default max_shard_size="5GB"
SEED = 0
WRITER_VERSION = 1  # bump when the way repos are written changes
ORG = "bench"
GB, MB = 1e9, 1e6


# ---------------------------------------------------------------------------------------------
# Sparse synthetic repos
# ---------------------------------------------------------------------------------------------
def nbytes(shp) -> int:
    n = 2  # bf16
    for x in shp:
        n *= x
    return n


def shards_of(shape: dict) -> list[list[tuple[str, tuple]]]:
    """save_pretrained's split: tensors in state-dict order, a new shard when the next would overflow."""
    shards, size = [[]], 0
    for name, shp in tensor_plan(shape):
        if shards[-1] and size + nbytes(shp) > SHARD_BYTES:
            shards.append([])
            size = 0
        shards[-1].append((name, shp))
        size += nbytes(shp)
    return shards


def is_read(name: str, n_layers: int) -> bool:
    """The tensors the terms read (the rest stay holes): embedding, last two layers, final norm."""
    layers = (f"model.layers.{n_layers - 2}.", f"model.layers.{n_layers - 1}.")
    return name in ("model.embed_tokens.weight", "model.norm.weight") or name.startswith(layers)


def write_shard(path: Path, tensors: list[tuple[str, tuple]], n_layers: int) -> None:
    """A safetensors file as safetensors writes it (same-dtype tensors laid out by name, header padded
    with spaces to 8 bytes), holding only the bytes of the tensors the terms read."""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, shp in sorted(tensors):
        header[name] = {"dtype": "BF16", "shape": list(shp), "data_offsets": [off, off + nbytes(shp)]}
        off += nbytes(shp)
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    start = 8 + len(hb)
    import torch
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb)
        for name, shp in sorted(tensors):
            if is_read(name, n_layers):
                f.seek(start + header[name]["data_offsets"][0])
                f.write(memoryview(make_tensor(name, shp, SEED).view(torch.int16).numpy()))
        f.truncate(start + off)  # the holes: apparent size is the real file's size


def marker(shape_name: str) -> dict:
    spec = {"writer": WRITER_VERSION, "shape": SHAPES[shape_name], "seed": SEED, "shard_bytes": SHARD_BYTES}
    return {**spec, "hash": hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]}


def ensure_repo(work: Path, shape_name: str) -> Path:
    """work/repos/bench/llama-<shape>-shaped, written now unless one with the same marker exists.
    The marker lives outside the repo folder so the server does not list it as a repo file."""
    repo = work / "repos" / ORG / f"llama-{shape_name}-shaped"
    mark, want = work / "markers" / f"{repo.name}.json", marker(shape_name)
    try:
        if json.loads(mark.read_text())["hash"] == want["hash"] and repo.is_dir():
            print(f"reusing {repo}")
            return repo
    except (OSError, ValueError, KeyError):
        pass
    from transformers import LlamaConfig

    shape, shards = SHAPES[shape_name], shards_of(SHAPES[shape_name])
    tmp = repo.with_name(repo.name + ".partial")
    for d in (tmp, repo):
        shutil.rmtree(d, ignore_errors=True)
    tmp.mkdir(parents=True)
    cfg = LlamaConfig(**shape, rms_norm_eps=1e-5, tie_word_embeddings=False, torch_dtype="bfloat16")
    cfg.architectures = ["LlamaForCausalLM"]
    cfg.save_pretrained(tmp)
    write_tokenizer(tmp, shape["vocab_size"])
    weight_map, t0 = {}, time.perf_counter()
    for k, shard in enumerate(shards):
        fname = f"model-{k + 1:05d}-of-{len(shards):05d}.safetensors"
        write_shard(tmp / fname, shard, shape["num_hidden_layers"])
        weight_map.update({name: fname for name, _ in shard})
        print(f"  {fname}: {(tmp / fname).stat().st_size / GB:.2f} GB apparent, {time.perf_counter() - t0:.0f} s")
    total = sum(nbytes(s) for _, s in tensor_plan(shape))
    index = {"metadata": {"total_size": total}, "weight_map": weight_map}
    (tmp / "model.safetensors.index.json").write_text(json.dumps(index, indent=2))
    os.sync()
    tmp.rename(repo)
    mark.parent.mkdir(parents=True, exist_ok=True)
    mark.write_text(json.dumps(want, indent=2))
    return repo


def du(path: Path, apparent: bool = False) -> int:
    """Bytes on disk (or apparent) as `du` counts them: a sparse file's holes cost nothing."""
    args = ["du", "-s", "--block-size=1"] + (["--apparent-size"] if apparent else []) + [str(path)]
    return int(subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()[0])


def header_bytes(path: Path) -> int:
    with open(path, "rb") as f:
        return 8 + struct.unpack("<Q", f.read(8))[0]


# ---------------------------------------------------------------------------------------------
# The new path: readable-fp reading by range, in a child process
# ---------------------------------------------------------------------------------------------
def child_env(server_url: str, tmp: Path) -> dict:
    """A fresh environment: the fake Hub as endpoint, online, empty caches, no token (and an empty
    HF_HOME, so no stored token is sent either)."""
    env = os.environ.copy()
    for k in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_DISABLE_IMPLICIT_TOKEN"):
        env.pop(k, None)
    env.update(HF_ENDPOINT=server_url, HF_HUB_OFFLINE="0", READABLE_FP_CACHE=str(tmp / "rfp-cache"),
               HF_HUB_CACHE=str(tmp / "hf-cache"), HF_HOME=str(tmp / "hf-home"), HF_HUB_DISABLE_TELEMETRY="1")
    return env


def served(server) -> dict:
    """What the server sent since its last reset, by file: requests on /ORG/NAME/resolve/REV/FILE and on
    the /cdn/ORG/NAME/SHA/FILE a big (LFS) file's resolve URL redirects to; redirects counted apart."""
    per_file: dict[str, dict] = {}
    for r in server.requests:
        parts = unquote(urlsplit(r.path).path).split("/")
        if len(parts) > 5 and (parts[3] == "resolve" or parts[1] == "cdn"):
            f = per_file.setdefault("/".join(parts[5:]), {"requests": 0, "redirects": 0, "bytes": 0})
            f["requests"] += 1
            f["redirects"] += r.status in (301, 302, 303, 307, 308)
            f["bytes"] += r.body_bytes
    return {"file_bytes": server.file_bytes_sent, "bytes": server.bytes_sent,
            "requests": len(server.requests), "files": per_file}


def run_new_path(server, repo_id: str, tmp: Path, run: int) -> dict:
    exe = shutil.which("readable-fp")
    cmd = ([exe] if exe else [sys.executable, "-c", "from readable_fp.cli import main; main()"])
    out = tmp / f"inv-{run}.safetensors"
    cmd += ["invariants", repo_id, "-o", str(out), "--no-progress"]
    server.reset()
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=child_env(server.url, tmp), capture_output=True, text=True)
    res = {"seconds": time.perf_counter() - t0, "rc": p.returncode, "command": " ".join(cmd[-6:]), **served(server)}
    if p.returncode != 0:
        res["error"] = (p.stderr or p.stdout).strip()[-3000:]
        print(f"readable-fp failed (rc {p.returncode}):\n{res['error']}")
    else:
        from safetensors import safe_open
        with safe_open(str(out), "pt") as f:
            meta = f.metadata()
        res["n_probes"] = len(json.loads(meta["probes"]))
        res["tensor_bytes"] = json.loads(meta["info"])["bytes_read"]
    return res


def code_state() -> dict:
    """The library runs as it stands in the work tree: its commit and the files changed since."""
    def git(*args):
        return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True).stdout.strip()
    return {"commit": git("rev-parse", "HEAD"), "modified": git("status", "--short", "readable_fp", "tests").split("\n")}


def needed_bytes(repo: Path, touched: list[str], tensor_bytes: int) -> dict:
    """What the read needs: the tensor bytes the terms read (the run's own count, `bytes_read`: the
    last two layers' tensors and the probe tokens' embedding rows), the touched shards' headers and
    the small files downloaded whole."""
    parts = {
        "tensors_read": tensor_bytes,
        "headers": sum(header_bytes(repo / f) for f in touched),
        "small_files": sum((repo / f).stat().st_size
                           for f in ("config.json", "tokenizer.json", "model.safetensors.index.json")),
    }
    return {**parts, "total": sum(parts.values())}


# ---------------------------------------------------------------------------------------------
# The old path: hf_hub_download of the touched shards, whole
# ---------------------------------------------------------------------------------------------
def download_child(repo_id: str, files: list[str]) -> None:
    """Run in a child (its env names the endpoint): download each file, time it, delete it."""
    from huggingface_hub import hf_hub_download

    seconds = []
    for f in files:
        t0 = time.perf_counter()
        local = hf_hub_download(repo_id, f)
        seconds.append(time.perf_counter() - t0)
        os.remove(os.path.realpath(local))  # the blob: spares ~5 GB of disk per shard
        os.remove(local)
    print(json.dumps(seconds))


def run_old_path(server, repo_id: str, shards: list[str], tmp: Path) -> dict:
    server.reset()
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, __file__, "_download", repo_id, *shards],
                       env=child_env(server.url, tmp / "baseline"), capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"baseline download failed:\n{p.stderr[-3000:]}")
    return {"seconds": time.perf_counter() - t0, "download_seconds": json.loads(p.stdout.splitlines()[-1]),
            "run": True, **served(server)}


# ---------------------------------------------------------------------------------------------
# One shape, the report
# ---------------------------------------------------------------------------------------------
def bench_shape(server, work: Path, name: str, keep: bool) -> dict:
    repo, shape = ensure_repo(work, name), SHAPES[name]
    repo_id = f"{ORG}/{repo.name}"
    disk, apparent = du(repo), du(repo, apparent=True)
    print(f"{repo_id}: {apparent / GB:.1f} GB apparent, {disk / GB:.2f} GB on disk (du)")
    tmp = work / "tmp" / name
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        first = run_new_path(server, repo_id, tmp, 1)
        second = run_new_path(server, repo_id, tmp, 2)  # same caches: should send no file bytes
        res = {"repo": repo_id, "apparent_bytes": apparent, "disk_bytes": disk, "first": first, "second": second,
               "code": code_state()}
        if first["rc"] != 0:
            return res
        touched = sorted(f for f in first["files"] if f.endswith(".safetensors"))
        res["touched_shards"] = touched
        res["n_shards"] = len(shards_of(shape))
        res["needed"] = needed_bytes(repo, touched, first["tensor_bytes"])
        res["ratio"] = first["file_bytes"] / res["needed"]["total"]
        shard_bytes = sum((repo / f).stat().st_size for f in touched)
        if name == "7b":
            res["baseline"] = run_old_path(server, repo_id, touched, tmp)
        else:  # ~15 GB through loopback onto this disk: computed, not run
            res["baseline"] = {"run": False, "file_bytes": shard_bytes, "seconds": None}
        res["target_bytes"] = TARGET_BYTES[name]
        res["target_met"] = first["file_bytes"] <= TARGET_BYTES[name]
        return res
    finally:
        if not keep:
            shutil.rmtree(tmp, ignore_errors=True)


COLUMNS = ["shape", "repo GB (apparent)", "disk GB", "sent MB", "requests", "s", "2nd run MB", "2nd run requests",
           "needed MB", "sent/needed", "baseline MB", "baseline s", "target met"]


def row(name: str, r: dict) -> list[str]:
    f, s = r["first"], r["second"]
    if f["rc"] != 0:
        return [name, f"{r['apparent_bytes'] / GB:.1f}", f"{r['disk_bytes'] / GB:.2f}", "FAILED"] + [""] * 9
    b = r["baseline"]
    bs = f"{b['seconds']:.1f}" if b["run"] else "computed, not run"
    return [name, f"{r['apparent_bytes'] / GB:.1f}", f"{r['disk_bytes'] / GB:.2f}", f"{f['file_bytes'] / MB:.1f}",
            str(f["requests"]), f"{f['seconds']:.1f}", f"{s['file_bytes'] / MB:.1f}", str(s["requests"]),
            f"{r['needed']['total'] / MB:.1f}", f"{r['ratio']:.3f}", f"{b['file_bytes'] / MB:.0f}", bs,
            ("yes" if r["target_met"] else "no") + f" (<= {r['target_bytes'] / GB:.0f} GB)"]


def markdown(report: dict) -> str:
    m = report["machine"]
    lines = ["# Fingerprinting from the Hub by range vs downloading the shards", "",
             f"Machine: {m['platform']}, {m['cpu_count']} CPUs; server: `tests/hub_server.py` over loopback; "
             f"date {m['date']}. Made by `python bench/hub_read.py` (see its docstring).", "",
             "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(k, r)) + " |" for k, r in sorted(report["shapes"].items(), key=lambda kv: len(kv[0]))]
    lines += ["", "MB = 1e6 bytes, GB = 1e9 bytes. *sent*: file bytes the server sent to `readable-fp invariants` "
              "(config, index, tokenizer included); *requests*: every HTTP request it answered; *s*: the child "
              "process's wall time (Python start and imports included). *needed*: the tensor bytes the terms read (the "
              "run's `bytes_read`: the last two layers' tensors, the probe tokens' embedding rows), the touched "
              "shards' headers and the three small files. "
              "*baseline*: `hf_hub_download` of every shard the new path touched, whole (70B: their sizes, not run).",
              ""]
    for k, r in report["shapes"].items():
        if r["first"]["rc"] != 0:
            lines += [f"- {k}: readable-fp failed: `{r['first']['error'].splitlines()[-1]}`"]
            continue
        files = ", ".join(f"{f} ({v['requests']} req of which {v['redirects']} redirects, {v['bytes'] / MB:.1f} MB)" for f, v in r["first"]["files"].items())
        per_req = (r["first"]["seconds"] - r["second"]["seconds"]) / r["first"]["requests"]
        lines += [f"- {k}: {r['n_shards']} shards; requests by file: {files}. First run minus second run "
                  f"(no transfer), per request: {1000 * per_req:.1f} ms."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(SHAPES), action="append", help="run only this shape (repeatable)")
    ap.add_argument("--work-dir", type=Path, default=HERE / "_work" / "hub")
    ap.add_argument("--keep", action="store_true", help="keep the temporary caches and outputs")
    ap.add_argument("--json-out", type=Path, default=HERE / "results" / "hub_read.json")
    ap.add_argument("--markdown-out", type=Path, default=HERE / "results" / "hub_read.md")
    a = ap.parse_args()
    from hub_server import HubServer

    a.work_dir.mkdir(parents=True, exist_ok=True)
    # merge into an earlier report, so `--only 7b` then `--only 70b` fill one table
    try:
        report = json.loads(a.json_out.read_text())
    except (OSError, ValueError):
        report = {"shapes": {}}
    report["machine"] = {"platform": platform.platform(), "cpu_count": os.cpu_count(),
                         "python": platform.python_version(), "date": datetime.date.today().isoformat()}
    server = HubServer(a.work_dir / "repos").start()
    try:
        for name in a.only or sorted(SHAPES, key=len):
            report["shapes"][name] = bench_shape(server, a.work_dir, name, a.keep)
    finally:
        server.stop()
    widths = [max(len(c), *(len(row(k, r)[i]) for k, r in report["shapes"].items())) for i, c in enumerate(COLUMNS)]
    print("\n" + "  ".join(c.ljust(w) for c, w in zip(COLUMNS, widths)))
    for k, r in report["shapes"].items():
        print("  ".join(c.ljust(w) for c, w in zip(row(k, r), widths)))
    for path, text in ((a.json_out, lambda: json.dumps(report, indent=2)), (a.markdown_out, lambda: markdown(report))):
        path.parent.mkdir(parents=True, exist_ok=True)  # the JSON first: a report bug must not lose the figures
        path.write_text(text())
        print(f"wrote {path}")
    return 0 if all(r.get("target_met") for r in report["shapes"].values()) else 1


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_download":
        download_child(sys.argv[2], sys.argv[3:])
    else:
        sys.exit(main())
