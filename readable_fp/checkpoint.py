"""What every checkpoint format offers the math: named tensors read lazily, plus config and vocab.

A `Checkpoint` never materialises the whole model. `get(name, rows=...)` returns one tensor
(or some of its rows) as float32 torch, in Hugging Face orientation (`out x in`), and counts
the bytes it had to read so reports can say how little was touched.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Sequence

import torch

from .errors import FingerprintError


@dataclass
class Vocab:
    """Token strings by id, and which ids are ordinary text tokens (not special/byte/unused)."""

    tokens: list[str]
    normal: list[bool]
    # How the tokenizer marks spaces/bytes: "byte_bpe" (GPT-2 style Ġ), "sentencepiece" (▁),
    # "wordpiece" (## continuation) or "plain".
    style: str


@dataclass
class ReadStats:
    bytes_read: int = 0
    seconds: float = 0.0
    tensors: dict[str, str] = field(default_factory=dict)  # name -> sha256 of the bytes read
    storage: dict[str, str] = field(default_factory=dict)  # name -> how the checkpoint stores it


class Checkpoint:
    """Base class: subclasses implement `_read` and fill the attributes in `__init__`."""

    fmt: str = "?"
    source: str = ""
    config: dict
    vocab: Vocab | None = None

    def __init__(self) -> None:
        self.stats = ReadStats()

    # --- to implement -------------------------------------------------------------------
    def names(self) -> Sequence[str]:
        raise NotImplementedError

    def shape(self, name: str) -> tuple[int, ...]:
        raise NotImplementedError

    def dtype_name(self, name: str) -> str:
        raise NotImplementedError

    def storage(self, name: str) -> str:
        """How the tensor is stored, for the record: its dtype, or its quantisation and parts."""
        return self.dtype_name(name)

    def _read(self, name: str, rows: Sequence[int] | None) -> torch.Tensor:
        """Return the tensor (or its `rows`) in its stored dtype; must add to stats.bytes_read."""
        raise NotImplementedError

    # --- shared -------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self._name_set()

    def _name_set(self) -> set[str]:
        if not hasattr(self, "_names_cache"):
            self._names_cache = set(self.names())
        return self._names_cache

    def get(self, name: str, rows: Sequence[int] | None = None) -> torch.Tensor:
        if not self.has(name):
            raise FingerprintError(f"{self.source}: tensor '{name}' is missing from the checkpoint")
        t0 = time.perf_counter()
        t = self._read(name, rows)
        raw = t.contiguous()
        h = hashlib.sha256(memoryview(raw.view(torch.uint8).numpy()) if raw.numel() else b"")
        key = name if rows is None else f"{name}[{len(rows)} rows]"
        self.stats.tensors[key] = h.hexdigest()
        self.stats.storage[name] = self.storage(name)
        out = raw.to(torch.float32)
        if not torch.isfinite(out).all():
            raise FingerprintError(f"{self.source}: tensor '{name}' holds NaN or infinite values")
        self.stats.seconds += time.perf_counter() - t0
        return out

    def dtype_summary(self) -> str:
        """The most common stored dtype among the tensors read so far (or all tensors)."""
        counts: dict[str, int] = {}
        for n in self.names():
            counts[self.dtype_name(n)] = counts.get(self.dtype_name(n), 0) + 1
        return max(counts, key=counts.get) if counts else "?"

    def close(self) -> None:
        pass


def check_shape(source: str, name: str, shape: tuple[int, ...], want: tuple[int, ...]) -> None:
    if tuple(shape) != tuple(want):
        raise FingerprintError(
            f"{source}: tensor '{name}' has shape {tuple(shape)}, expected {tuple(want)} from the config"
        )
