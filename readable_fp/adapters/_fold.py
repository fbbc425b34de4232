"""Folding a norm gain into the rows of a projection, for norms that `Layer`'s per-head q/k gains
cannot express: one over all heads' outputs at once (OLMo 2), or per-head norms with a different
gain in every head (Cohere, StableLM)."""
from __future__ import annotations

from ..errors import FingerprintError


def scale_rows(W, gain, where: str):
    """W with row r multiplied by the r-th entry of `gain` (flattened, heads first, as the projection's rows)."""
    if gain is None:
        return W
    g = gain.reshape(-1)
    if g.shape[0] != W.shape[0]:
        raise FingerprintError(f"{where}: norm gain of {g.shape[0]} entries does not fit a projection of {W.shape[0]} rows")
    return W * g[:, None]
