"""Byte ranges of a file, read with as few reads as the ranges allow.

A checkpoint reader asks a `ByteSource` for the byte ranges it needs (a header, a tensor, the
rows of an embedding) and gets them back in the order asked. `LocalFile` reads a file on disk;
`readable_fp.formats.hub_file.HubFile` reads one of a Hub repo by HTTP range requests, where the
number of requests matters: `plan` merges touching ranges into one request and bridges the
smallest gaps between requests while the bytes bridged stay within a budget.
"""
from __future__ import annotations

import os
from typing import Protocol, Sequence

Range = tuple[int, int]  # [start, stop) in bytes


class ByteSource(Protocol):
    name: str  # for messages
    size: int

    def read_many(self, ranges: Sequence[Range]) -> list[bytes | bytearray]: ...


def read(src: ByteSource, start: int, stop: int) -> bytes | bytearray:
    return src.read_many([(start, stop)])[0]


def check_ranges(src: ByteSource, ranges: Sequence[Range]) -> None:
    from ..errors import FingerprintError

    for a, b in ranges:
        if not 0 <= a <= b <= src.size:
            raise FingerprintError(f"{src.name}: bytes {a}-{b} lie outside the file ({src.size} bytes); "
                                   "its header describes data it does not hold")


class LocalFile:
    """A file on disk; each range is one positioned read (no shared file offset, so no lock)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path, self.name = os.fspath(path), os.fspath(path)
        self.size = os.path.getsize(self.path)

    def read_many(self, ranges: Sequence[Range]) -> list[bytes]:
        check_ranges(self, ranges)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            return [_pread_all(fd, b - a, a) for a, b in ranges]
        finally:
            os.close(fd)


def _pread_all(fd: int, n: int, offset: int) -> bytes:
    parts, got = [], 0
    while got < n:
        chunk = os.pread(fd, n - got, offset + got)
        if not chunk:
            break  # the file shrank under us: the caller sees the short read as a size mismatch
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def union(ranges: Sequence[Range]) -> list[Range]:
    """The same bytes as sorted, disjoint, non-touching ranges."""
    spans: list[list[int]] = []
    for a, b in sorted(r for r in ranges if r[1] > r[0]):
        if spans and a <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], b)
        else:
            spans.append([a, b])
    return [(a, b) for a, b in spans]


def plan(ranges: Sequence[Range], budget: float = 0) -> tuple[list[Range], int]:
    """(requests covering `ranges`, bytes they fetch beyond the ranges): overlapping and touching
    ranges become one request, then the smallest gaps between requests are bridged while the bytes
    bridged stay within `budget`. Deterministic for a given budget."""
    spans = union(ranges)
    bridged: set[int] = set()
    spent = 0
    for gap, i in sorted((spans[i + 1][0] - spans[i][1], i) for i in range(len(spans) - 1)):
        if spent + gap > budget:
            break
        spent += gap
        bridged.add(i)
    out: list[Range] = []
    for i, (a, b) in enumerate(spans):
        if out and i - 1 in bridged:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out, spent
