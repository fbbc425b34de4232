"""A mutation fuzzer for the readers: safetensors folders, GGUF, ONNX, PEFT adapters, NVIDIA pickles.

Each reader gets a small, valid seed written the way real files are (a tiny llama saved by
transformers, its GGUF as llama.cpp lays it out, a BERT-style ONNX graph with quantised
initialisers, a LoRA adapter, a StyleGAN2-ADA pickle). Each input is a seed with a few random
mutations (bit flips, byte runs, extreme integers in place of the header's sizes and counts,
inserted and deleted chunks, truncation, numbers in the JSON replaced by huge, negative or
non-numeric values), read in a forked child under a time limit. The child's outcome must be a
result or a one-line `FingerprintError`; anything else is a finding: another exception (an
internal error), a hang, a signal, or a peak memory above the limit.

    python -m tests.fuzzing --inputs 5000 --seed 1     # longer runs, on demand
    (tests/test_fuzz.py runs a fixed short budget in CI)

Every finding is written to --findings DIR (the mutated files and what happened) so that it can
become a regression test. Inputs are read in children forked from this program's own process,
never from a test runner's: a process that has already run torch's OpenMP thread pool can leave a
forked child waiting forever on a lock its threads held, so this process runs torch on one thread.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

TIMEOUT_S = 20
PEAK_LIMIT_MB = 1024
INTS = [0, 1, 2**31 - 1, 2**31, 2**32 - 1, 2**40, 2**62, 2**63 - 1, 2**64 - 1]


# --- seeds ----------------------------------------------------------------------------------
def build_seeds(root: Path) -> dict[str, Path]:
    """reader name -> a valid model (a folder or a file) to mutate."""
    import torch
    from safetensors.torch import save_file

    sys.path.insert(0, str(Path(__file__).parent))
    from helpers import LLAMA_TINY, save_tiny
    from test_formats import write_gguf

    seeds = {}
    llama = root / "safetensors"
    save_tiny("llama", llama, **dict(LLAMA_TINY, num_hidden_layers=2))
    seeds["safetensors"] = llama
    seeds["gguf"] = write_gguf(llama, root / "model.gguf")
    bert = root / "bert-src"
    save_tiny("bert", bert, auto_class="AutoModel", hidden_size=64, intermediate_size=128, num_hidden_layers=6,
              num_attention_heads=2, vocab_size=256, max_position_embeddings=64)  # 64: the layout zoo's 32-blocks
    seeds["onnx"] = _onnx_seed(bert, root / "onnx")
    lora = root / "lora"
    lora.mkdir()
    (lora / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 2, "lora_alpha": 4,
                                                          "base_model_name_or_path": str(llama)}))
    g = torch.Generator().manual_seed(0)
    save_file({f"base_model.model.model.layers.1.self_attn.{p}_proj.lora_{ab}.weight": torch.randn(shape, generator=g)
               for p in ("q", "v") for ab, shape in (("A", (2, 64)), ("B", (64 if p == "q" else 16, 2)))},
              str(lora / "adapter_model.safetensors"))
    seeds["peft"] = lora
    seeds["pickle"] = _pickle_seed(root / "network.pkl")
    (root / "seeds.json").write_text(json.dumps({k: str(v) for k, v in seeds.items()}))
    return seeds


def _onnx_seed(bert: Path, dst: Path) -> Path:
    from safetensors.numpy import load_file
    from test_onnx import _write_layout_zoo

    dst.mkdir()
    _write_layout_zoo(load_file(str(bert / "model.safetensors")), dst / "model.onnx")
    shutil.copy(bert / "config.json", dst / "config.json")
    return dst


def _pickle_seed(path: Path) -> Path:
    from nvidia_pickles import source_generator, write_nvidia_pickle

    return write_nvidia_pickle(path, source_generator(), path.with_suffix(".EXECUTED"))


# --- what each reader does with an input ----------------------------------------------------
def target(reader: str, path: Path) -> None:
    from readable_fp import api

    if reader == "pickle":
        from readable_fp.nvidia_pickle import load_nvidia_pickle
        load_nvidia_pickle(path)
    elif reader == "onnx":  # the export beside its config.json, as exporters leave it
        api.invariants(str(path / "model.onnx"), n_tokens=64, progress=False)
    else:
        api.invariants(str(path), n_tokens=64, progress=False)


# --- mutations ------------------------------------------------------------------------------
def mutate(data: bytes, rng: random.Random) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.random()
        if not b:
            b += bytes(rng.randrange(256) for _ in range(8))
        at = rng.randrange(len(b))
        if op < 0.25:
            b[at] ^= 1 << rng.randrange(8)
        elif op < 0.45:
            n = min(8, len(b) - at)
            b[at:at + n] = rng.choice(INTS).to_bytes(8, "little")[:n]
        elif op < 0.6:
            b[at:at + rng.randint(1, 16)] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op < 0.7:
            del b[at:at + rng.randint(1, 64)]
        elif op < 0.8:
            b[at:at] = b[rng.randrange(len(b)):][:rng.randint(1, 64)]
        elif op < 0.9:
            del b[rng.randrange(len(b) + 1):]
        else:
            b = bytearray(_mutate_json_numbers(bytes(b), rng))
    return bytes(b)


def _mutate_json_numbers(data: bytes, rng: random.Random) -> bytes:
    """In a JSON file (or a safetensors header), a number becomes huge, negative, fractional or text."""
    import re

    nums = list(re.finditer(rb"(?<=[:\[, ])-?\d+(?=[,\]} ])", data[:1 << 20]))
    if not nums:
        return data
    m = rng.choice(nums)
    new = rng.choice([b"0", b"-1", b"1e30", b"2.5", b'"7"', b"null", b"[]", b"{}", str(2**64).encode()])
    return data[:m.start()] + new + data[m.end():]


def mutant(reader: str, seed: Path, work: Path, rng: random.Random) -> Path:
    """A copy of `seed` in `work` with one of its files mutated."""
    if seed.is_dir():
        shutil.copytree(seed, work / seed.name)
        files = sorted(p for p in (work / seed.name).iterdir() if p.is_file())
        victim = rng.choice(files)
        out = work / seed.name
    else:
        victim = out = work / seed.name
        shutil.copy(seed, victim)
    victim.write_bytes(mutate(victim.read_bytes(), rng))
    return out


# --- running one input in a child -----------------------------------------------------------
@dataclass
class Outcome:
    kind: str  # "ok", "refused", "internal", "hang", "signal", "memory"
    detail: str = ""
    peak_mb: float = 0.0


def run_one(reader: str, path: Path, timeout: float = TIMEOUT_S) -> Outcome:
    from readable_fp.errors import FingerprintError

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: read the input, report how it ended
        os.close(r)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1), os.dup2(devnull, 2)
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        try:  # an allocation far past the limit fails at once instead of swapping the machine
            resource.setrlimit(resource.RLIMIT_AS, (_vm_size() + 3 * 2**30, hard))
        except (ValueError, OSError):
            pass
        try:
            target(reader, path)
            msg = "ok\n"
        except FingerprintError as e:
            msg = "refused\n" + str(e)
        except BaseException as e:  # noqa: BLE001 - exactly what the fuzzer looks for
            msg = "internal\n" + "".join(traceback.format_exception(type(e), e, e.__traceback__))[-4000:]
        os.write(w, msg.encode("utf-8", "replace")[:65000])
        os._exit(0)
    os.close(w)
    t0 = time.monotonic()
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() - t0 > timeout:
            os.kill(pid, 9)
            _, status, usage = os.wait4(pid, 0)
            os.close(r)
            return Outcome("hang", f"still running after {timeout} s", usage.ru_maxrss / 1024)
        time.sleep(0.005)
    out = b""
    while chunk := os.read(r, 65536):
        out += chunk
    os.close(r)
    peak = usage.ru_maxrss / 1024
    if os.WIFSIGNALED(status):
        return Outcome("signal", f"killed by signal {os.WTERMSIG(status)}", peak)
    kind, _, detail = out.decode("utf-8", "replace").partition("\n")
    if peak > PEAK_LIMIT_MB:
        return Outcome("memory", f"peak {peak:.0f} MB ({kind}: {detail[:200]})", peak)
    if kind == "refused" and "\n" in detail.strip():
        return Outcome("internal", "a refusal of more than one line: " + detail, peak)
    return Outcome(kind or "internal", detail, peak)


def _vm_size() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 8 * 2**30


# --- a campaign -------------------------------------------------------------------------------
@dataclass
class Report:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    findings: list[tuple[str, str, Outcome]] = field(default_factory=list)


def campaign(seeds: dict[str, Path], inputs_per_reader: int, seed: int, findings: Path | None,
             readers: list[str] | None = None) -> Report:
    rep = Report()
    for reader in readers or list(seeds):  # each reader's imports happen here once, not in every child
        target(reader, seeds[reader])
    for reader in readers or list(seeds):
        rng = random.Random(f"{seed}:{reader}")  # the same inputs on every run with the same seed
        rep.counts[reader] = {}
        for i in range(inputs_per_reader):
            with tempfile.TemporaryDirectory(prefix="readable-fp-fuzz-") as tmp:
                path = mutant(reader, seeds[reader], Path(tmp), rng)
                o = run_one(reader, path)
                rep.counts[reader][o.kind] = rep.counts[reader].get(o.kind, 0) + 1
                if o.kind not in ("ok", "refused"):
                    rep.findings.append((reader, f"{reader}-{seed}-{i}", o))
                    if findings is not None:
                        keep = findings / f"{reader}-{seed}-{i}"
                        shutil.copytree(tmp, keep, dirs_exist_ok=True)
                        (keep / "OUTCOME.txt").write_text(f"{o.kind}\n{o.detail}\n")
    return rep


def isolated(*args: str, timeout: float = 3000) -> dict:
    """Run this program in a fresh process (see the module's note on fork) and return its --json report."""
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "report.json"
        r = subprocess.run([sys.executable, "-m", "tests.fuzzing", *args, "--json", str(out)], capture_output=True,
                           text=True, timeout=timeout, cwd=Path(__file__).resolve().parents[1])
        if not out.exists():
            raise RuntimeError(f"the fuzzer failed (exit {r.returncode}): {r.stderr[-3000:]}")
        return json.loads(out.read_text())


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzzing", description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=1000, help="mutated inputs per reader (default 1000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--readers", default="", help="comma list (default: all)")
    ap.add_argument("--findings", default="fuzz-findings", help="folder for inputs that found something")
    ap.add_argument("--seeds", default=None, metavar="DIR", help="seeds built earlier (build_seeds), instead of new ones")
    ap.add_argument("--check", action="append", default=[], metavar="READER=PATH",
                    help="read just these inputs (no campaign) and report each outcome")
    ap.add_argument("--json", default=None, metavar="FILE", help="also write the report as JSON")
    a = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)  # see the module's note: children are forked from this process
    if a.check:
        found = [run_one(c.split("=", 1)[0], Path(c.split("=", 1)[1])).__dict__ for c in a.check]
        if a.json:
            Path(a.json).write_text(json.dumps(found))
        print(json.dumps(found, indent=1))
        return 0
    root = Path(tempfile.mkdtemp(prefix="readable-fp-fuzz-seeds-"))
    try:
        seeds = ({k: Path(v) for k, v in json.loads((Path(a.seeds) / "seeds.json").read_text()).items()}
                 if a.seeds else build_seeds(root))
        t0 = time.perf_counter()
        rep = campaign(seeds, a.inputs, a.seed, Path(a.findings), [r for r in a.readers.split(",") if r] or None)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if a.json:
        Path(a.json).write_text(json.dumps({"counts": rep.counts, "findings": [
            {"reader": r, "name": n, **o.__dict__} for r, n, o in rep.findings]}))
    for reader, c in rep.counts.items():
        print(f"{reader:12} {sum(c.values()):6d} inputs  " + "  ".join(f"{k} {v}" for k, v in sorted(c.items())))
    print(f"{len(rep.findings)} findings in {time.perf_counter() - t0:.0f} s" + (f" (kept in {a.findings}/)" if rep.findings else ""))
    for reader, name, o in rep.findings[:20]:
        print(f"  {name}: {o.kind}: {o.detail.strip().splitlines()[-1] if o.detail.strip() else ''}")
    return 1 if rep.findings else 0


if __name__ == "__main__":
    sys.exit(main())
