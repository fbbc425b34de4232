#!/usr/bin/env python
"""The web UI's Compare, timed through the page's own API against the app as it was before.

all-MiniLM-L6-v2 (safetensors folder) vs its published int8 export as shipped (model.onnx alone,
no tokenizer), the case issue 19 measured. Two servers run side by side on loopback:

  baseline  `readable-fp app` of BASELINE (git archive of that commit, imported from its own
            folder): it compared the models, then read each model again for its standalone dog.
  current   this checkout's app: one reading of both models; verdict and dogs come from it.

Each is asked through gradio_client, exactly as the page asks (HTTP, queue, file results), with
typed paths (both servers allow the bundled models' folders). One warm-up call each (imports,
the encoder's matrix, the OS file cache), then --repeat timed calls, alternating baseline and
current. Prints the median seconds of each and the speed-up; --markdown-out writes the table.

    python bench/app_compare.py                    # BASELINE = 0982518, 3 timed calls each
    python bench/app_compare.py --repeat 5 --markdown-out bench/results/app_compare.md
"""
from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "0982518"  # the last commit before issue 19's web UI


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(code: Path, allowed: list[str], log: Path) -> tuple[subprocess.Popen, str]:
    """`readable-fp app` of the package in `code` (run from there, so that copy is the one imported)."""
    port = _port()
    env = dict(os.environ, PYTHONPATH=str(code), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    args = [sys.executable, "-m", "readable_fp.cli", "app", "--port", str(port)]
    for d in allowed:
        args += ["--allow-local-paths", d]
    proc = subprocess.Popen(args, cwd=code, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"the app in {code} exited: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return proc, url
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"the app in {code} did not answer: {log.read_text()[-2000:]}")
            time.sleep(0.5)


def _timed(client, a: str, b: str) -> float:
    t = time.perf_counter()
    client.predict([], a, [], b, api_name="/make_comparison")
    return time.perf_counter() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--baseline", default=BASELINE, help="git commit of the app to beat (default %(default)s)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--markdown-out")
    args = ap.parse_args()
    sys.path.insert(0, str(ROOT))
    from gradio_client import Client

    from readable_fp import bundled

    a, b = str(bundled.path("minilm")), str(bundled.path("minilm-int8"))
    allowed = [str(Path(a).parent), str(Path(b).parent)]
    with tempfile.TemporaryDirectory(prefix="app-compare-") as tmp:
        old = Path(tmp) / "baseline"
        old.mkdir()
        archive = subprocess.run(["git", "archive", args.baseline], cwd=ROOT, check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(old)], input=archive, check=True)
        servers = {"baseline": _serve(old, allowed, Path(tmp) / "baseline.log"),
                   "current": _serve(ROOT, allowed, Path(tmp) / "current.log")}
        try:
            clients = {k: Client(url, verbose=False) for k, (_, url) in servers.items()}
            warm = {k: _timed(c, a, b) for k, c in clients.items()}
            times: dict[str, list[float]] = {k: [] for k in clients}
            for _ in range(args.repeat):
                for k, c in clients.items():
                    times[k].append(_timed(c, a, b))
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=30)
    med = {k: statistics.median(v) for k, v in times.items()}
    lines = ["# Compare in the web UI: all-MiniLM-L6-v2 vs its int8 export (model.onnx alone)", "",
             f"Machine: {platform.platform()}, {os.cpu_count()} CPUs; date {date.today()}. Made by "
             f"`python bench/app_compare.py --repeat {args.repeat}` (see its docstring).", "",
             "| app | first call s (warm-up) | timed calls s | median s |", "|---|---|---|---|"]
    for k in ("baseline", "current"):
        name = f"baseline ({args.baseline})" if k == "baseline" else "current"
        lines.append(f"| {name} | {warm[k]:.2f} | {', '.join(f'{t:.2f}' for t in times[k])} | {med[k]:.2f} |")
    lines += ["", f"Current takes {100 * (1 - med['current'] / med['baseline']):.0f}% less time than the baseline "
              f"({med['baseline'] / med['current']:.2f}x as fast; target: at least 25% less)."]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown_out:
        Path(args.markdown_out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
