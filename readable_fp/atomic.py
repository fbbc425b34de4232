"""Outputs appear whole or not at all: written beside their final name, then renamed."""
from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from .errors import FingerprintError


def check_output(path: str | os.PathLike) -> Path:
    """Refuse an output path that cannot be written, before any work is done for it."""
    path = Path(path)
    if path.is_dir():
        raise FingerprintError(f"{path}: is a directory; give a file name")
    if not path.absolute().parent.is_dir():
        raise FingerprintError(f"{path.absolute().parent}: output directory does not exist")
    return path


@contextmanager
def replacing(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside `path`; it replaces `path` if the block succeeds, else is removed."""
    path = check_output(path)
    tmp = path.with_name(path.name + ".partial")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with replacing(path) as tmp:
        tmp.write_bytes(data)
