"""One public file, fetched over HTTP(S) into a local path with a progress bar; resumable.

An interrupted download stays beside its target as ``NAME.part``, with the validator its server
sent (the ETag, else Last-Modified) in ``NAME.part.json``. The next call asks for the rest with a
``Range`` request and ``If-Range``, so a server whose file changed meanwhile sends it whole again
instead of a tail that would not fit the head. The target appears only once complete (os.replace).
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from tqdm.auto import tqdm

from .errors import FingerprintError

TIMEOUT = httpx.Timeout(30.0)  # seconds to connect, or between two pieces of the body


def _validator(headers: httpx.Headers) -> str | None:
    etag = headers.get("ETag")
    if etag and not etag.startswith("W/"):  # If-Range needs a strong validator
        return etag
    return headers.get("Last-Modified")


def _resume_from(url: str, part: Path, state: Path) -> tuple[int, str | None]:
    """Bytes of `url` already here and the validator they came with; (0, None) if they cannot be trusted."""
    try:
        saved = json.loads(state.read_text())
        have = part.stat().st_size
    except (OSError, ValueError):
        return 0, None
    if not isinstance(saved, dict) or not isinstance(saved.get("validator"), str) or saved.get("url") != url:
        return 0, None
    return have, saved["validator"]


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FingerprintError(f"{url}: not an http(s) URL")
    return parts.hostname


def download(url: str, dest: str | os.PathLike, progress: bool = True, desc: str | None = None) -> Path:
    """`url`'s body as file `dest` (its folder must exist); resumes a ``dest.part`` left by an earlier try."""
    host, dest = _check_url(url), Path(dest)
    part, state = dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json")
    have, validator = _resume_from(url, part, state)
    # identity: the bytes on disk are the file's bytes, so a Range request can continue them
    headers = {"Accept-Encoding": "identity"}
    if have and validator:
        headers.update({"Range": f"bytes={have}-", "If-Range": validator})
    try:
        with httpx.stream("GET", url, headers=headers, follow_redirects=True, timeout=TIMEOUT) as r:
            if r.status_code == 416 and "Range" in headers and _complete(r, have):
                pass  # everything was already here
            else:
                _receive(r, url, host, part, state, have if r.status_code == 206 else 0, progress, desc or dest.name)
    except httpx.HTTPError as e:
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        again = "run the command again to resume" if part.is_file() and part.stat().st_size else "check the network"
        raise FingerprintError(f"cannot download {url}: {why} ({again})") from None
    os.replace(part, dest)
    state.unlink(missing_ok=True)
    return dest


def _complete(r: httpx.Response, have: int) -> bool:
    m = re.fullmatch(r"bytes \*/(\d+)", r.headers.get("Content-Range", ""))
    return bool(m) and int(m.group(1)) == have


def _receive(r: httpx.Response, url: str, host: str, part: Path, state: Path, start: int, progress: bool,
             desc: str) -> None:
    if r.status_code not in (200, 206):
        raise FingerprintError(f"cannot download {url}: {host} answered HTTP {r.status_code}")
    if r.status_code == 206 and not r.headers.get("Content-Range", "").startswith(f"bytes {start}-"):
        raise FingerprintError(f"cannot download {url}: {host} sent another byte range than the one asked for")
    length = r.headers.get("Content-Length")
    total = start + int(length) if length and length.isdigit() else None
    validator = _validator(r.headers)
    if validator:
        state.write_text(json.dumps({"url": url, "validator": validator}))
    else:
        state.unlink(missing_ok=True)  # nothing to resume against: a later try starts again
    with open(part, "ab" if start else "wb") as f, \
            tqdm(total=total, initial=start, unit="B", unit_scale=True, desc=f"download {desc}",
                 disable=not progress) as bar:
        for chunk in r.iter_bytes():  # as it arrives: bytes received before a failure are kept
            f.write(chunk)
            bar.update(len(chunk))
        got = f.tell()
    if total is not None and got != total:
        raise FingerprintError(f"cannot download {url}: the transfer ended after {got} of {total} bytes "
                               "(run the command again to resume)")
