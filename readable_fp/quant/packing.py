"""Integer codes packed into 32-bit words, as GPTQ and AWQ store them.

Both lay codes out as a little-endian bit stream: code j of a row occupies bits
[bits*j, bits*j + bits) counted from the least significant bit of the first word. For 2, 4 and
8 bits that is `(word >> (bits * (j % per_word))) & mask`; for 3 bits, 32 codes fill three
words and two codes straddle a word boundary (GPTQ's 3-bit layout). AWQ's GEMM packing then
permutes the eight codes inside each word; that is its reader's business.
"""
from __future__ import annotations

import math
import sys

import torch

_CHUNK = 1 << 24  # codes unpacked at a time: int64 temporaries stay near 128 MB


def unpack(words: torch.Tensor, bits: int, count: int, dim: int = -1) -> torch.Tensor:
    """The first `count` codes along `dim` of `words` (int32), as uint8 (bits <= 8)."""
    if words.dtype != torch.int32:
        raise ValueError(f"packed codes must be int32 words, not {words.dtype}")
    w = words.movedim(dim, -1)
    lead, n_words = w.shape[:-1], w.shape[-1]
    if 8 % bits == 0 and sys.byteorder == "little":
        return _from_bytes(w, bits, count).movedim(-1, dim)
    period = math.lcm(bits, 32)  # bits after which the code/word pattern repeats
    per, words_per = period // bits, period // 32
    if count > n_words * 32 // bits:
        raise ValueError(f"{n_words} words of {bits}-bit codes cannot hold {count} codes")
    if n_words % words_per:  # a last, partial period: its missing words hold no codes we return
        w = torch.nn.functional.pad(w, (0, words_per - n_words % words_per))
        n_words = w.shape[-1]
    w = w.reshape(-1, n_words // words_per, words_per)
    out = torch.empty(w.shape[0], w.shape[1] * per, dtype=torch.uint8)
    step = max(1, _CHUNK // max(1, w.shape[1] * per))
    for r in range(0, w.shape[0], step):
        out[r:r + step] = _codes(w[r:r + step].to(torch.int64) & 0xFFFFFFFF, bits, per).reshape(-1, w.shape[1] * per)
    return out[:, :count].reshape(*lead, count).movedim(-1, dim)


def _from_bytes(w: torch.Tensor, bits: int, count: int) -> torch.Tensor:
    """2, 4 and 8 bits never straddle a byte: split each little-endian byte, about 10x faster
    than shifting words in int64."""
    if count > w.shape[-1] * 32 // bits:
        raise ValueError(f"{w.shape[-1]} words of {bits}-bit codes cannot hold {count} codes")
    b = w.contiguous().view(torch.uint8)  # (..., 4 * words), least significant byte first
    mask = (1 << bits) - 1
    codes = torch.stack([(b >> (bits * j)) & mask for j in range(8 // bits)], dim=-1)
    return codes.reshape(*w.shape[:-1], -1)[..., :count]


def _codes(w: torch.Tensor, bits: int, per: int) -> torch.Tensor:
    """(rows, periods, words_per) uint32 values in int64 -> (rows, periods, per) codes."""
    mask = (1 << bits) - 1
    cols = []
    for j in range(per):
        k, s = divmod(bits * j, 32)
        c = w[..., k] >> s
        if s + bits > 32:  # the code continues in the next word's low bits
            c = c | (w[..., k + 1] << (32 - s))
        cols.append((c & mask).to(torch.uint8))
    return torch.stack(cols, dim=-1)
