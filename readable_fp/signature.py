"""A model's signature: what `identify` searches, shareable without the weights or the terms.

- ``sketch``: the 6 x 64 x 64 string-keyed count sketch of the last two layers' terms that the
  encoder reads (`readable_fp.sketch`), stored as float16: 49,152 bytes. The mean over the six
  channels of the cosine of two models' sketches estimates their ICS / 100 (`estimate`), with no
  probe tokens in common needed beyond the strings themselves.
- ``vector``: the search vector, 576 float32 (2,304 bytes): each sketch channel scaled to unit
  norm and projected by one fixed Gaussian 4096 x 96 matrix, the six projections concatenated.
  The dot product of two vectors, divided by 6, is an unbiased estimate of that same mean cosine
  (Johnson-Lindenstrauss), so a dot-product search over the vectors finds the candidates whose
  sketches are then compared in full.

Neither can be turned back into the terms: a sketch keeps 4,096 numbers of each 16.7 M-entry term.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .sketch import CHANNELS, K, sketch

PROJECTED = 96  # per channel
DIM = CHANNELS * PROJECTED  # 576
SKETCH_BYTES = CHANNELS * K * K * 2
_SEED = 0x5EED_1D  # the projection is part of the index format: never change it within a version


def _projection() -> np.ndarray:
    """The fixed K*K x PROJECTED Gaussian matrix (NumPy's Philox stream: the same on every machine)."""
    rng = np.random.Generator(np.random.Philox(key=_SEED))
    return (rng.standard_normal((K * K, PROJECTED)) / np.sqrt(PROJECTED)).astype(np.float32)


_P: np.ndarray | None = None


@dataclass(frozen=True)
class Signature:
    sketch: np.ndarray  # CHANNELS x K x K float16
    vector: np.ndarray  # DIM float32

    def to_bytes(self) -> bytes:
        return np.ascontiguousarray(self.sketch, dtype="<f2").tobytes()

    @classmethod
    def from_bytes(cls, raw: bytes) -> "Signature":
        if len(raw) != SKETCH_BYTES:
            raise ValueError(f"a signature is {SKETCH_BYTES} bytes, not {len(raw)}")
        s = np.frombuffer(raw, dtype="<f2").reshape(CHANNELS, K, K)
        return cls(s, search_vector(s))


def search_vector(s: np.ndarray) -> np.ndarray:
    """The DIM-float search vector of a CHANNELS x K x K sketch."""
    global _P
    if _P is None:
        _P = _projection()
    flat = np.asarray(s, dtype=np.float32).reshape(CHANNELS, K * K)
    unit = flat / np.maximum(np.linalg.norm(flat, axis=1, keepdims=True), 1e-30)
    return (unit @ _P).reshape(DIM).astype(np.float32)


def of(inv) -> Signature:
    """The signature of a model's standalone invariants (its own probe tokens, last two layers)."""
    s = sketch(inv).numpy().astype(np.float16)
    return Signature(s, search_vector(s))


def estimate(a: Signature | np.ndarray, b: Signature | np.ndarray) -> float:
    """The sketch's estimate of ICS (0-100): 100 x the mean per-channel cosine of the two sketches."""
    sa, sb = (x.sketch if isinstance(x, Signature) else x for x in (a, b))
    fa = torch.from_numpy(np.asarray(sa, dtype=np.float64).reshape(CHANNELS, -1))
    fb = torch.from_numpy(np.asarray(sb, dtype=np.float64).reshape(CHANNELS, -1))
    cos = (fa * fb).sum(1) / (fa.norm(dim=1) * fb.norm(dim=1)).clamp_min(1e-300)
    return float(100.0 * cos.mean())
