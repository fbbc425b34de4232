"""Quantised checkpoints: which logical weights a checkpoint stores as codes, and how to rebuild them.

A quantised Hugging Face checkpoint does not hold `...q_proj.weight` as a float matrix: it holds
codes and scales (`qweight`/`qzeros`/`scales`, `weight` + `SCB`, `weight_packed` +
`weight_scale`, ...). Each module of this package reads one quantisation family and returns,
for every weight it recognises, a `Stored`: the raw tensors it is made of and a function that
rebuilds the float32 weight in Hugging Face orientation (`out x in`), reading only those parts
(and, where the layout allows, only the rows asked for). The checkpoint then offers the logical
name like any other tensor; adapters and the math never see a quantisation.

`plan` picks the family from the checkpoint's own declaration: `quantization_config` in
config.json (`quant_method`), else AutoGPTQ's `quantize_config.json` or AutoAWQ's
`quant_config.json`, else MLX's `quantization` block. A declared method we do not read is
refused with a line naming it, and so is a checkpoint that holds code tensors but declares no
quantisation: codes are never read as if they were weights.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Protocol, Sequence

import torch

from ..errors import FingerprintError
from ..paths import read_json

Rows = Sequence[int] | None


class Raw(Protocol):
    """The checkpoint's stored tensors, by their names in the files."""

    def raw_has(self, name: str) -> bool: ...
    def raw_shape(self, name: str) -> tuple[int, ...]: ...
    def raw_dtype(self, name: str) -> str: ...  # safetensors spelling: F32, BF16, I32, U8, F8_E4M3, ...
    def raw(self, name: str, rows: Rows = None) -> torch.Tensor: ...  # stored dtype, counted as read


@dataclass
class Stored:
    """One logical weight that the checkpoint stores quantised."""

    parts: tuple[str, ...]  # the raw tensors it is rebuilt from
    label: str  # short, for tables: "gptq4", "nf4", "fp8"
    storage: str  # how it is stored, for the record: "gptq int4, group 128, act-order, v1 zeros"
    shape: Callable[[], tuple[int, ...]]
    read: Callable[[Rows], torch.Tensor]  # float32, out x in, only `rows` when given


# quant_method -> module of this package that reads it
METHODS = {"fp8": "fp8", "fbgemm_fp8": "fp8", "bitsandbytes": "bnb", "gptq": "gptq", "awq": "awq",
           "compressed-tensors": "compressed", "mxfp4": "mxfp4", "mlx": "mlx"}
READS = "bitsandbytes (int8, nf4, fp4), compressed-tensors, fp8, fbgemm_fp8, gptq, awq (gemm, gemv), mxfp4, MLX"

# Suffixes of code and scale tensors: a checkpoint holding these but declaring no quantisation
# is refused rather than read as plain weights.
_CODE_SUFFIXES = (".qweight", ".qzeros", ".weight_packed", ".SCB", ".weight.absmax", ".weight_scale",
                  ".weight_scale_inv", "_blocks", ".weight.quant_map")


def declaration(config: dict, directory: Path) -> tuple[str, dict] | None:
    """(quant_method, its settings) as the checkpoint declares them, or None when unquantised."""
    qc = config.get("quantization_config")
    if isinstance(qc, dict) and qc.get("quant_method"):
        return str(qc["quant_method"]).lower(), qc
    if isinstance(config.get("quantization"), dict):  # MLX (mlx-lm copies it into quantization_config)
        return "mlx", config["quantization"]
    for fname, method in (("quantize_config.json", "gptq"), ("quant_config.json", "awq")):
        side = read_json(directory, fname)
        if side is not None:
            return str(side.get("quant_method", method)).lower(), side
    if isinstance(qc, dict) and qc:
        raise FingerprintError(f"{directory / 'config.json'}: a quantization_config without quant_method; "
                               "refusing to guess how its weights are stored")
    return None


def plan(config: dict, directory: Path, names: Sequence[str], raw: Raw, source: str) -> dict[str, Stored]:
    """Logical weight name -> how it is stored, for every weight the checkpoint stores quantised."""
    found = declaration(config, directory)
    if found is None:
        codes = [n for n in names if n.endswith(_CODE_SUFFIXES)]
        if codes:
            raise FingerprintError(f"{source}: holds quantised tensors (e.g. '{codes[0]}') but declares no "
                                   "quantization_config; refusing to read codes as weights")
        return {}
    method, settings = found
    if method not in METHODS:
        raise FingerprintError(f"{source}: unsupported quantisation '{method}' (quant_method in its config); "
                               f"readable-fp reads {READS}")
    import importlib

    reader = importlib.import_module(f"{__name__}.{METHODS[method]}")
    return reader.plan(method, settings, list(names), raw, source)


# --- helpers the readers share ----------------------------------------------------------
def module_of(name: str, suffix: str) -> str | None:
    """'a.b.qweight', '.qweight' -> 'a.b' (None when the name does not end so)."""
    return name[: -len(suffix)] if name.endswith(suffix) else None


def packed_modules(names: Sequence[str], source: str):
    """The modules stored as `<module>.qweight` + `.qzeros` + `.scales` (GPTQ and AWQ name them
    alike); a missing part is refused."""
    have = set(names)
    for n in names:
        m = module_of(n, ".qweight")
        if m is not None:
            for part in ("qzeros", "scales"):
                check(f"{m}.{part}" in have, source, f"'{n}' has no '{m}.{part}'")
            yield m


def select(t: torch.Tensor, rows: Rows) -> torch.Tensor:
    return t if rows is None else t[torch.as_tensor(list(rows), dtype=torch.long)]


def check(cond: bool, source: str, what: str) -> None:
    """Refuse, in one line, a checkpoint whose parts do not fit what its config declares."""
    if not cond:
        raise FingerprintError(f"{source}: {what}")
