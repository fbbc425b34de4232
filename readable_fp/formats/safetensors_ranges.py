"""A safetensors file read through byte ranges (a `ByteSource`), never whole.

The layout is safetensors' own: 8 bytes (little-endian u64) giving the header's length, the
JSON header mapping each tensor name to its dtype, shape and `data_offsets` (relative to the end
of the header), then the tensors' bytes, row-major. So a tensor is one range, and rows of a
matrix are ranges of `row bytes` each. The header is checked the way safetensors checks it: every
tensor's byte count equals its shape times its dtype size and lies inside the file.
"""
from __future__ import annotations

import json
import math
from typing import Sequence

import torch

from ..errors import FingerprintError
from .byte_ranges import ByteSource, read

MAX_HEADER = 100_000_000  # safetensors' own limit on the JSON header
DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "U16": torch.uint16, "U32": torch.uint32, "U64": torch.uint64, "BOOL": torch.bool,
          "F8_E4M3": torch.float8_e4m3fn, "F8_E5M2": torch.float8_e5m2, "F8_E8M0": torch.float8_e8m0fnu}


def _itemsize(dtype: str) -> int:
    return torch.empty(0, dtype=DTYPES[dtype]).element_size()


class RangedSafetensors:
    """`meta` and `read` as `readable_fp.formats.safetensors_dir.WeightFile`."""

    def __init__(self, src: ByteSource) -> None:
        self.src = src
        if src.size < 8:
            raise self._bad("shorter than its 8-byte header length")
        n = int.from_bytes(read(src, 0, 8), "little")
        if n > min(MAX_HEADER, src.size - 8):
            raise self._bad(f"its header length {n} runs past the file's {src.size} bytes")
        try:
            header = json.loads(bytes(read(src, 8, 8 + n)))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
            raise self._bad("its header is not valid JSON") from None
        if not isinstance(header, dict):
            raise self._bad("its header is not a JSON object")
        header.pop("__metadata__", None)
        self.meta: dict[str, tuple[tuple[int, ...], str]] = {}
        self._at: dict[str, int] = {}
        for name, info in header.items():
            self._add(name, info, 8 + n)

    def _bad(self, why: str) -> FingerprintError:
        return FingerprintError(f"{self.src.name}: unreadable safetensors file ({why})")

    def _add(self, name: str, info, base: int) -> None:
        try:
            dtype, shape, (a, b) = info["dtype"], tuple(info["shape"]), info["data_offsets"]
            ok = dtype in DTYPES and all(type(d) is int and d >= 0 for d in shape) and type(a) is int and type(b) is int
        except (TypeError, KeyError, ValueError):
            ok = False
        if not ok:
            raise self._bad(f"tensor '{name}' has no valid dtype, shape and data_offsets")
        if b - a != math.prod(shape) * _itemsize(dtype) or not 0 <= a <= b or base + b > self.src.size:
            raise self._bad(f"tensor '{name}' has {b - a} bytes at {a}, which its shape {list(shape)} of {dtype} "
                            "does not fill, or which run past the end")
        self.meta[name] = (shape, dtype)
        self._at[name] = base + a

    def read(self, name: str, rows: Sequence[int] | None) -> torch.Tensor:
        shape, dtype = self.meta[name]
        at = self._at[name]
        itemsize = _itemsize(dtype)
        row = math.prod(shape[1:]) * itemsize
        if rows is None or not shape:
            data = read(self.src, at, at + math.prod(shape) * itemsize)
            out_shape = shape
        else:
            if any(not 0 <= r < shape[0] for r in rows):
                raise FingerprintError(f"{self.src.name}: rows asked of '{name}' lie outside its {shape[0]} rows")
            data = b"".join(self.src.read_many([(at + r * row, at + (r + 1) * row) for r in rows]))
            out_shape = (len(rows),) + shape[1:]
        if not len(data):
            return torch.empty(out_shape, dtype=DTYPES[dtype])
        return torch.frombuffer(bytearray(data) if isinstance(data, bytes) else data,
                                dtype=DTYPES[dtype]).reshape(out_shape)
