#!/usr/bin/env python
"""Fingerprint speed: seconds and peak memory per stage, over every real model installed here.

Each model runs in a fresh child process (so its peak RSS is its own), through four stages:

  read     opening the checkpoint (`readable_fp.api.open_model`) plus the time spent inside
           `Checkpoint.get`: reading the tensors, hashing them, converting to float32.
  terms    `readable_fp.model_terms.compute(ck, n_tokens=T)` on the default layers (the last
           two) less the read time: vocabulary and probe choice, the layer terms.
  encode   the encoder (`readable_fp.encoder.get(NAME)`, default: the measured best) on the
           terms -> latent. The random projection builds its matrix on first use; that counts.
  render   `readable_fp.vector_dog.render_png(latent)`: the weight-free vector dog, as PNG bytes.
           No trained StyleGAN2 generator ships yet, so it is the only renderer timed.

total s is the sum of the four; format is the checkpoint format and its most common stored dtype;
size MB the weight files on disk; tokens the probe tokens actually used. Memory is the child's `ru_maxrss` (MB = 1e6 bytes): "base" right
after the imports, then the peak so far at the end of read+terms, of encode and of render (peak
RSS only grows, so each figure includes the stages before it; mapped file pages count). With
--repeat N every figure is the median over N child runs. Exit status 0 if every model ran.

    python bench/speed.py                                  # all models, T = 4096
    python bench/speed.py --threads 1 --tokens 512 --only smollm2
    python bench/speed.py --repeat 3 --json-out bench/_work/speed.json --markdown-out bench/_work/speed.md
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
MB = 1e6
STAGES = ("read_s", "terms_s", "encode_s", "render_s", "total_s")
RSS = ("rss_base_mb", "rss_terms_mb", "rss_encode_mb", "rss_render_mb")
RENDER_NOTE = "render: the vector dog only (no trained StyleGAN2 generator ships yet)"


def _smollm2(tmp):
    from readable_fp import bundled
    return bundled.path("smollm2")


def _gemma(tmp):
    sys.path.insert(0, str(ROOT))
    from encoder_training.real_models import gemma_path
    return gemma_path()  # joins the package's chunks once


def _minilm(tmp):
    from readable_fp import bundled
    return bundled.path("minilm")


def _minilm_int8(tmp):
    """model.onnx beside the fp32 model's tokenizer files, so probes are strings, not token ids."""
    from readable_fp import bundled
    return bundled.model("minilm-int8")


MODELS = {"smollm2": ("SmolLM2-135M-Instruct Q4_1", _smollm2), "gemma": ("Gemma-3-270m Q4_K_M", _gemma),
          "minilm": ("all-MiniLM-L6-v2", _minilm), "minilm-int8": ("all-MiniLM-L6-v2 int8 ONNX", _minilm_int8)}


def disk_bytes(p: Path) -> int:
    """The weight file, or the weight files of a model directory (symlinks followed)."""
    if p.is_file():
        return p.stat().st_size
    return sum(f.stat().st_size for f in p.iterdir() if f.suffix in (".safetensors", ".gguf", ".onnx", ".bin"))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / MB  # KiB on Linux


# ---------------------------------------------------------------------------------------------
# The measured child process: one model, prints one JSON line
# ---------------------------------------------------------------------------------------------
def child_main(a: argparse.Namespace) -> None:
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    from readable_fp import api, encoder, model_terms, vector_dog
    res = {"threads": torch.get_num_threads(), "torch": torch.__version__, "rss_base_mb": rss_mb()}

    t0 = time.perf_counter()
    ck = api.open_model(a.path)
    open_s = time.perf_counter() - t0
    inner, depth, get_s = ck.get, [0], [0.0]

    def timed_get(*args, **kw):  # seconds inside get, counted once should it re-enter
        depth[0] += 1
        t = time.perf_counter()
        try:
            return inner(*args, **kw)
        finally:
            depth[0] -= 1
            if depth[0] == 0:
                get_s[0] += time.perf_counter() - t

    ck.get = timed_get
    t0 = time.perf_counter()
    inv = model_terms.compute(ck, n_tokens=a.tokens, progress=False)
    res.update(read_s=open_s + get_s[0], terms_s=time.perf_counter() - t0 - get_s[0], rss_terms_mb=rss_mb())

    t0 = time.perf_counter()
    enc = encoder.get(a.encoder)
    z = enc.encode(inv)
    res.update(encode_s=time.perf_counter() - t0, rss_encode_mb=rss_mb())

    t0 = time.perf_counter()
    png = vector_dog.render_png(z)
    res.update(render_s=time.perf_counter() - t0, rss_render_mb=rss_mb())
    res["total_s"] = sum(res[k] for k in STAGES[:-1])
    res.update(format=f"{ck.fmt} {ck.dtype_summary()}", tokens=len(inv.probes), layers=inv.layers,
               encoder=enc.name, png_bytes=len(png))
    print(json.dumps(res), flush=True)


def run_child(path: Path, a: argparse.Namespace) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "_child", "--path", str(path), "--tokens", str(a.tokens),
           "--threads", str(a.threads)] + (["--encoder", a.encoder] if a.encoder else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.stderr.strip():  # warnings, or the error: shown without breaking the progress bar
        tqdm.write(proc.stderr.rstrip(), file=sys.stderr)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode or not lines:
        last = (proc.stderr.strip().splitlines() or [""])[-1]
        raise RuntimeError(f"child exited with status {proc.returncode}: {last}")
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------
# The parent: one child per model and repeat, then the table
# ---------------------------------------------------------------------------------------------
COLUMNS = [("model", "model"), ("format", "format"), ("size MB", "size_mb"), ("tokens", "tokens"),
           ("read s", "read_s"), ("terms s", "terms_s"), ("encode s", "encode_s"), ("render s", "render_s"),
           ("total s", "total_s"), ("RSS base MB", "rss_base_mb"), ("RSS terms MB", "rss_terms_mb"),
           ("RSS encode MB", "rss_encode_mb"), ("RSS render MB", "rss_render_mb")]


def cells(row: dict) -> list[str]:
    fmt = {"size_mb": "{:.1f}", "tokens": "{}", **{k: "{:.3f}" for k in STAGES}, **{k: "{:.0f}" for k in RSS}}
    return [fmt.get(k, "{}").format(row[k]) for _, k in COLUMNS]


def text_table(rows: list[dict]) -> str:
    body = [[h for h, _ in COLUMNS]] + [cells(r) for r in rows]
    w = [max(len(r[i]) for r in body) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.ljust(w[i]) if i < 2 else c.rjust(w[i]) for i, c in enumerate(r)) for r in body)


def markdown_table(rows: list[dict]) -> str:
    out = ["| " + " | ".join(h for h, _ in COLUMNS) + " |", "|" + "---|" * 2 + "---:|" * (len(COLUMNS) - 2)]
    return "\n".join(out + ["| " + " | ".join(cells(r)) + " |" for r in rows])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    ap.add_argument("--only", choices=list(MODELS), action="append", help="run only this model (repeatable)")
    ap.add_argument("--tokens", type=int, default=4096, help="probe tokens T (default 4096)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads in the children (default: torch's own)")
    ap.add_argument("--repeat", type=int, default=1, help="child runs per model; figures are medians (default 1)")
    ap.add_argument("--encoder", help="encoder name or .safetensors path (default: the library's default)")
    ap.add_argument("--json-out", type=Path, help="also write every figure and the machine as JSON here")
    ap.add_argument("--markdown-out", type=Path, help="also write the table as Markdown here")
    a = ap.parse_args(argv)
    rows, skipped, failed = [], [], []
    with tempfile.TemporaryDirectory(prefix="speed-") as tmp:
        for key in (bar := tqdm(a.only or list(MODELS), desc="models", unit="model", file=sys.stderr)):
            name, resolve = MODELS[key]
            bar.set_postfix_str(key)
            try:
                path = Path(resolve(Path(tmp)))
            except Exception as e:  # a model package that is not installed
                skipped.append({"model": key, "reason": str(e).splitlines()[0] if str(e) else type(e).__name__})
                continue
            try:
                runs = [run_child(path, a) for _ in range(a.repeat)]
            except RuntimeError as e:
                failed.append({"model": key, "reason": str(e)})
                continue
            med = {k: statistics.median(r[k] for r in runs) for k in STAGES + RSS}
            rows.append({"model": name, "key": key, "path": str(path), "size_mb": disk_bytes(path) / MB,
                         **{k: runs[0][k] for k in ("format", "tokens", "layers", "encoder", "threads", "torch")},
                         **med, "runs": runs})
    if rows:
        print(text_table(rows))
        print(f"\nT = {a.tokens} probe tokens, encoder {rows[0]['encoder']}, torch threads {rows[0]['threads']}, "
              f"median of {a.repeat} run(s). {RENDER_NOTE}.")
    for s in skipped:
        print(f"skipped {s['model']}: {s['reason']}")
    for f in failed:
        print(f"FAILED {f['model']}: {f['reason']}")
    machine = {"cpu_count": os.cpu_count(), "torch_threads": rows[0]["threads"] if rows else None,
               "torch": rows[0]["torch"] if rows else None, "platform": platform.platform(),
               "python": platform.python_version(), "processor": platform.processor()}
    if a.json_out:
        a.json_out.parent.mkdir(parents=True, exist_ok=True)
        a.json_out.write_text(json.dumps({"machine": machine, "tokens": a.tokens, "repeat": a.repeat,
                                          "note": RENDER_NOTE, "models": rows, "skipped": skipped,
                                          "failed": failed}, indent=2))
        print(f"wrote {a.json_out}")
    if a.markdown_out:
        a.markdown_out.parent.mkdir(parents=True, exist_ok=True)
        a.markdown_out.write_text(markdown_table(rows) + f"\n\nT = {a.tokens}, median of {a.repeat} run(s); "
                                  f"{RENDER_NOTE}.\n")
        print(f"wrote {a.markdown_out}")
    return 0 if not skipped and not failed else 1


def _child_args(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--path", required=True)
    ap.add_argument("--tokens", type=int, required=True)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--encoder")
    return ap.parse_args(argv)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        from readable_fp.errors import FingerprintError
        try:
            child_main(_child_args(sys.argv[2:]))
        except FingerprintError as e:
            sys.exit(f"error: {e}")
    else:
        sys.exit(main())
