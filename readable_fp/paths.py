"""The files of a model folder are read only if they are regular files inside that folder.

A folder's own files (config.json, weights, tokenizer files) and the paths it names (shard index
entries, ONNX external data, quantisation side files) must resolve inside the folder: absolute
paths, `..` and symlinks that lead elsewhere are refused, and so are FIFOs, devices and
directories, which would hang a read or stream without end. One layout is inside by design:
Hugging Face's cache, where a snapshot folder `models--<org>--<name>/snapshots/<revision>/` (and its
subfolders) holds symlinks into the same repo's `blobs/`.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import FingerprintError


def _roots(directory: Path) -> list[Path]:
    d = directory.resolve()
    roots = [d]
    for up in d.parents:  # huggingface_hub's cache: snapshots/<rev>/[<folder>/]<file> -> <repo>/blobs/<hash>
        if up.name == "snapshots" and up.parent.name.startswith("models--"):
            roots.append(up.parent / "blobs")
            break
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


# Upper bounds for the JSON and text files read whole: far above real ones (the largest
# tokenizer.json released is ~35 MB, shard indexes ~10 MB), far below what would exhaust memory.
MB = 1 << 20
LIMITS = {"config": 16 * MB, "index": 64 * MB, "tokenizer": 128 * MB, "small": 4 * MB}


def read_text(path: str | os.PathLike, limit: str) -> str:
    """A regular file's text, refused in one line if it is larger than LIMITS[limit]."""
    p = regular_file(path)
    size, most = p.stat().st_size, LIMITS[limit]
    if size > most:
        raise FingerprintError(f"{p}: {size / MB:.0f} MB, larger than any real file of its kind "
                               f"({most // MB} MB at most); refusing to read it")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise FingerprintError(f"{p}: not UTF-8 text") from None


def read_json(directory: str | os.PathLike, name: str, limit: str = "small") -> dict | None:
    """The JSON object in file `name` of the model folder (None if there is no such file)."""
    import json

    p = model_file(directory, name)
    if p is None:
        return None
    try:
        obj = json.loads(read_text(p, limit))
    except json.JSONDecodeError as e:
        raise FingerprintError(f"{Path(directory) / name}: not valid JSON ({e.msg})") from None
    except RecursionError:
        raise FingerprintError(f"{Path(directory) / name}: nested too deeply") from None
    if not isinstance(obj, dict):
        raise FingerprintError(f"{Path(directory) / name}: not a JSON object")
    return obj


def cache_dir() -> Path:
    """Where readable-fp keeps what it can make again: $READABLE_FP_CACHE, else ~/.cache/readable-fp."""
    return Path(os.environ.get("READABLE_FP_CACHE") or Path.home() / ".cache" / "readable-fp")
