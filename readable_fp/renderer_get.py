"""Installing a published generator: download its pickle, import it without running it, keep safetensors.

    readable-fp renderer get afhqdog [--url MIRROR | --file afhqdog.pkl]
    readable-fp renderer list
    readable-fp renderer remove afhqdog

The pickle comes from its publisher's URL (or a mirror, or a file the user already has), is read by
`nvidia_pickle`'s restricted unpickler (no code from it runs), must hold the generator the name
stands for (512-dim latents, its resolution, RGB), and is deleted once converted: what stays is
``$READABLE_FP_CACHE/renderers/NAME.safetensors``, whose metadata records the pickle's SHA-256 and
size, the URL, the title and the licence. A lock file keeps two processes from installing at once.
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import FingerprintError
from .renderers import PUBLISHED, VECTOR, Z_DIM, folder, installed, resolve


def _published(name: str):
    if name not in PUBLISHED:
        raise FingerprintError(f"no published renderer '{name}' (known: {', '.join(PUBLISHED)}; "
                               f"{VECTOR} needs no download)")
    return PUBLISHED[name]


def get(name: str, url: str | None = None, file: str | os.PathLike | None = None, force: bool = False,
        progress: bool = True) -> Path:
    """Install published renderer `name` (see the module's docstring); its safetensors path.
    Already installed: nothing is fetched unless `force`."""
    from filelock import FileLock

    pub = _published(name)
    if url is not None and file is not None:
        raise FingerprintError("give --url or --file, not both")
    target = folder() / f"{name}.safetensors"
    if target.is_file() and not force:
        return target
    try:
        folder().mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FingerprintError(f"{folder()}: cannot create the renderer folder ({e.strerror or e})") from None
    with FileLock(str(folder() / f"{name}.lock")):
        if target.is_file() and not force:  # another process installed it while we waited
            return target
        source = _fetch(pub, url, progress) if file is None else _local(file)
        try:
            _convert(pub, source, url or (pub.url if file is None else None), target)
        finally:
            if file is None:
                source.unlink(missing_ok=True)  # the pickle is not needed again; a bad one must not be reused
    return target


def _fetch(pub, url: str | None, progress: bool) -> Path:
    from .download import download

    return download(url or pub.url, folder() / f"{pub.name}.pkl", progress=progress, desc=f"{pub.name}.pkl")


def _local(file) -> Path:
    p = Path(file).expanduser()
    if not p.is_file():
        raise FingerprintError(f"{p}: not a file (give the downloaded .pkl)")
    return p


def _convert(pub, source: Path, url: str | None, target: Path) -> None:
    from .nvidia_pickle import convert_nvidia_pickle

    extra = {"renderer": pub.name, "title": pub.title, "terms": pub.terms, "source_bytes": source.stat().st_size,
             **({"source_url": url} if url else {})}
    expect = {"img_resolution": pub.resolution, "img_channels": 3, "z_dim": Z_DIM}
    convert_nvidia_pickle(source, target, license=pub.license, extra=extra, expect=expect)


def remove(name: str) -> Path | None:
    """Delete an installed renderer; its former path, or None if it was not installed."""
    _published(name)
    p = installed(name)
    if p is not None:
        p.unlink()
    return p


def listing() -> list[dict]:
    """One row per renderer readable-fp knows: built in, or published (installed or not)."""
    rows = [{"name": VECTOR, "installed": True, "title": "readable-fp's vector dog (no weights)",
             "license": "Apache-2.0 (readable-fp's own)", "size": resolve(VECTOR).native, "path": None}]
    for pub in PUBLISHED.values():
        row = {"name": pub.name, "installed": False, "title": pub.title, "license": pub.license,
               "size": pub.resolution, "path": None, "url": pub.url}
        p = installed(pub.name)
        if p is not None:
            r = resolve(pub.name)
            row.update(installed=True, path=str(p), source_sha256=r.extra.get("source_sha256"),
                       source_url=r.extra.get("source_url"))
        rows.append(row)
    return rows
