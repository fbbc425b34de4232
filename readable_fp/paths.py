"""The files of a model folder are read only if they are regular files inside that folder.

A folder's own files (config.json, weights, tokenizer files) and the paths it names (shard index
entries, ONNX external data, quantisation side files) must resolve inside the folder: absolute
paths, `..` and symlinks that lead elsewhere are refused, and so are FIFOs, devices and
directories, which would hang a read or stream without end. One layout is inside by design:
Hugging Face's cache, where a snapshot folder `<repo>/snapshots/<revision>/` holds symlinks into
the same repo's `<repo>/blobs/`.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import FingerprintError


def _roots(directory: Path) -> list[Path]:
    d = directory.resolve()
    roots = [d]
    if d.parent.name == "snapshots":  # huggingface_hub's cache: snapshots/<rev>/<file> -> ../../blobs/<hash>
        roots.append(d.parent.parent / "blobs")
    return roots


def model_file(directory: str | os.PathLike, name: str | os.PathLike) -> Path | None:
    """The real path of file `name` of the model folder, None if there is none; a one-line
    refusal if it leaves the folder or is not a regular file."""
    d, rel = Path(directory), Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise FingerprintError(f"{d}: names '{rel}', a path outside the model's folder; refusing to read it")
    p = d / rel
    if not p.exists() and not p.is_symlink():
        return None
    try:
        real = p.resolve()
    except (RuntimeError, OSError):  # a symlink loop
        raise FingerprintError(f"{p}: a symlink loop, not a file") from None
    if not any(real.is_relative_to(r) for r in _roots(d)):
        raise FingerprintError(f"{p}: a link to a file outside the model's folder; refusing to read it")
    if not real.is_file():
        kind = "a directory" if real.is_dir() else "missing (a broken link)" if not real.exists() else "a FIFO, device or socket"
        raise FingerprintError(f"{p}: is {kind}, not a regular file")
    return real


def regular_file(path: str | os.PathLike) -> Path:
    """A model file named directly by the user (it may be a link): it must be a regular file."""
    p = Path(path)
    if not p.is_file():
        raise FingerprintError(f"{p}: not a regular file (a FIFO, device or socket cannot be a model)")
    return p
