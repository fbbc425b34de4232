"""One file of a Hub repo at a resolved commit, read by HTTP range requests and cached on disk.

Requests go to the file's `resolve` URL at the commit (so a branch moving mid-read cannot mix two
versions) through huggingface_hub's own HTTP session and headers: the token (`HF_TOKEN`, `hf auth
login`), the endpoint (`HF_ENDPOINT`), proxies and offline mode (`HF_HUB_OFFLINE`) are the ones
every Hugging Face tool uses. A server that answers a range request with anything but those
bytes is refused rather than downloaded from.

Probe tokens are ranked by a hash of their string, so the embedding rows read are scattered
over the vocabulary: hundreds to thousands of small ranges. Gaps between them are bridged,
smallest first, out of one budget per repo (`Transfer.spare`, a few per cent of the bytes the
read needs), and the remaining requests go out `WORKERS` at a time. A big tensor is fetched in
parallel pieces of at most `PIECE` bytes.

The cache (`RangeCache`): per commit and file, a sparse copy of the file holding the bytes fetched
so far and the list of their ranges, under `$READABLE_FP_CACHE/hub/`. A second read of the same
model finds every range there and sends no request.
"""
from __future__ import annotations

import bisect
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence
from urllib.parse import quote

from tqdm.auto import tqdm

from ..errors import FingerprintError
from ..paths import cache_dir
from .byte_ranges import Range, check_ranges, plan, union

PIECE = 64 << 20
WORKERS = 8


def cache_root() -> Path:
    return cache_dir() / "hub"


def safe_name(name: str) -> str:
    """A revision or file name as one path component: '/' quoted, and never '.' or '..'."""
    return "_" + quote(name, safe="")


@dataclass
class Transfer:
    """What one opened repo cost over the network, and the bridging budget it has left."""

    bytes: int = 0
    requests: int = 0
    progress: bool = True
    spare: float = 0.0  # bytes that may still be fetched beyond those needed, to save requests
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, n: int, requests: int = 0) -> None:
        with self.lock:
            self.bytes += n
            self.requests += requests


class RangeCache:
    """`data` (a sparse file of the remote file's size) and `ranges.json` (the [start, stop) spans
    it holds, merged and sorted) for one file at one commit."""

    def __init__(self, repo_id: str, commit: str, filename: str, size: int) -> None:
        self.dir = cache_root() / ("models--" + repo_id.replace("/", "--")) / commit / safe_name(filename)
        self.size = size
        try:
            self.spans = [tuple(r) for r in json.loads((self.dir / "ranges.json").read_text())]
        except (OSError, ValueError, TypeError):
            self.spans = []

    def has(self, a: int, b: int) -> bool:
        i = bisect.bisect_right(self.spans, (a, float("inf"))) - 1
        return i >= 0 and self.spans[i][0] <= a and b <= self.spans[i][1]

    def get_many(self, ranges: Sequence[Range]) -> list[bytearray]:
        out = []
        with open(self.dir / "data", "rb") as f:
            for a, b in ranges:
                buf = bytearray(b - a)
                f.seek(a)
                if f.readinto(buf) != b - a:
                    raise FingerprintError(f"{self.dir / 'data'}: the cache lost bytes {a}-{b}; delete the folder")
                out.append(buf)
        return out

    def put(self, fetched: dict[Range, bytes | bytearray]) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir / "data", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                for (a, _), data in fetched.items():
                    os.pwrite(fd, data, a)
            finally:
                os.close(fd)
            spans = union(self.spans + list(fetched))
            tmp = self.dir / f".ranges.{os.getpid()}.{threading.get_ident()}"
            tmp.write_text(json.dumps(spans))
            os.replace(tmp, self.dir / "ranges.json")  # after the data: a span listed is a span written
            self.spans = spans
        except OSError:
            pass  # a cache that cannot be written costs a second download, not the answer


class HubFile:
    """`ByteSource` over `filename` of `repo_id` at `commit` (`size` from the repo listing)."""

    def __init__(self, repo_id: str, commit: str, filename: str, size: int, transfer: Transfer) -> None:
        from huggingface_hub import constants, hf_hub_url

        self.repo_id, self.commit, self.filename, self.size = repo_id, commit, filename, size
        self.name = f"{repo_id}/{filename}"
        self.url = hf_hub_url(repo_id, filename, revision=commit, endpoint=constants.ENDPOINT)
        self.cache = RangeCache(repo_id, commit, filename, size)
        self.transfer = transfer
        self._target: str | None = None  # where the bytes are: the Hub's redirect target, asked once
        self._target_lock = threading.Lock()

    def read_many(self, ranges: Sequence[Range]) -> list[bytes | bytearray]:
        check_ranges(self, ranges)
        missing = [r for r in ranges if r[1] > r[0] and not self.cache.has(*r)]
        fetched: dict[Range, bytearray] = {}
        if missing:
            with self.transfer.lock:
                requests, spent = plan(missing, self.transfer.spare)
                self.transfer.spare -= spent
            pieces = [(a, min(a + PIECE, b)) for ra, b in requests for a in range(ra, b, PIECE)]
            fetched = self._fetch(pieces)
            self.cache.put(fetched)
        if all(r in fetched or r[0] == r[1] for r in ranges):  # whole requests: their buffers as they are
            return [fetched.get(r, b"") for r in ranges]
        if all(self.cache.has(*r) for r in ranges if r[1] > r[0]):
            return self.cache.get_many(ranges)
        return [_from(fetched, a, b) for a, b in ranges]  # the cache could not be written: cut from what came

    def _fetch(self, pieces: list[Range]) -> dict[Range, bytearray]:
        from huggingface_hub import constants
        from huggingface_hub.utils import are_progress_bars_disabled

        if constants.is_offline_mode():
            a, b = pieces[0]
            raise FingerprintError(f"{self.name}: offline (HF_HUB_OFFLINE is set) and bytes {a}-{b} of it at commit "
                                   f"{self.commit[:12]} are not in the cache")
        total = sum(b - a for a, b in pieces)
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"download {self.filename}", leave=False,
                  disable=not self.transfer.progress or are_progress_bars_disabled()) as bar:
            if len(pieces) == 1:
                return {pieces[0]: self._get(pieces[0], bar)}
            with ThreadPoolExecutor(min(WORKERS, len(pieces))) as pool:
                return dict(zip(pieces, pool.map(lambda p: self._get(p, bar), pieces)))

    def _where(self, stale: str | None = None) -> str:
        """The URL the bytes come from. An LFS or Xet file's `resolve` URL redirects to a signed CDN
        URL: asked for once (a HEAD, as hf_hub_download does), so thousands of row reads are not
        thousands of Hub requests (which the Hub rate-limits). `stale`: a target that stopped
        answering (its signature expired), to be asked for again."""
        from huggingface_hub import constants, get_hf_file_metadata

        with self._target_lock:
            if self._target is None or self._target == stale:
                try:
                    meta = get_hf_file_metadata(self.url, timeout=constants.HF_HUB_ETAG_TIMEOUT)
                except Exception as e:
                    raise hub_error(e, self.repo_id, f"reading {self.filename}") from None
                self.transfer.add(0, requests=1)
                if meta.size is not None and meta.size != self.size:
                    raise FingerprintError(f"{self.name}: the Hub lists {self.size} bytes but serves {meta.size}")
                self._target = meta.location or self.url
            return self._target

    def _get(self, piece: Range, bar, stale: str | None = None) -> bytearray:
        """One range request, streamed into a buffer of the range's size."""
        from huggingface_hub.utils import build_hf_headers, hf_raise_for_status, http_stream_backoff

        a, b = piece
        buf, n = bytearray(b - a), 0
        url = self._where(stale)
        # the token goes to the Hub only, never to the CDN a signed URL points at
        headers = {**(build_hf_headers() if url == self.url else {}), "Range": f"bytes={a}-{b - 1}"}
        self.transfer.add(0, requests=1)
        try:
            with http_stream_backoff("GET", url, headers=headers, max_retries=3) as r:
                if r.status_code in (401, 403) and url != self.url and stale is None:
                    return self._get(piece, bar, stale=url)
                hf_raise_for_status(r)
                if r.status_code != 206 or not r.headers.get("Content-Range", "").startswith(f"bytes {a}-{b - 1}/"):
                    raise FingerprintError(f"{self.name}: the server did not answer the byte-range request with those "
                                           f"bytes (HTTP {r.status_code}); refusing to download the whole file")
                for chunk in r.iter_bytes(1 << 20):
                    if n + len(chunk) > len(buf):
                        raise FingerprintError(f"{self.name}: the server sent more than the {b - a} bytes asked for")
                    buf[n:n + len(chunk)] = chunk
                    n += len(chunk)
                    self.transfer.add(len(chunk))
                    bar.update(len(chunk))
        except FingerprintError:
            raise
        except Exception as e:
            raise hub_error(e, self.repo_id, f"reading {self.filename}") from None
        if n != b - a:
            raise FingerprintError(f"{self.name}: the download of bytes {a}-{b} ended after {n} bytes")
        return buf


class RepoNotFound(FingerprintError):
    """No such repo (or a private one): for a bare ORG/NAME, also no such local path."""


def hub_error(e: Exception, repo_id: str, doing: str = "", revision: str | None = None) -> FingerprintError:
    """One line for whatever huggingface_hub or its HTTP client raised."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (EntryNotFoundError, GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    where = f"{repo_id}: {doing}: " if doing else f"{repo_id}: "
    if isinstance(e, GatedRepoError):
        return FingerprintError(f"{repo_id} is a gated repo: accept its conditions at {constants.ENDPOINT}/{repo_id} "
                                "and log in (`hf auth login`, or set HF_TOKEN)")
    if isinstance(e, RepositoryNotFoundError):
        return RepoNotFound(f"{repo_id}: no such model repo on {constants.ENDPOINT} (if it is private, log in: "
                                "`hf auth login`, or set HF_TOKEN)")
    if isinstance(e, RevisionNotFoundError):
        return FingerprintError(f"{repo_id}: no revision '{revision}' (a branch, tag or commit of the repo)")
    if isinstance(e, EntryNotFoundError):
        return FingerprintError(f"{where}the file is not in the repo at this commit")
    if isinstance(e, OfflineModeIsEnabled):
        return FingerprintError(f"{where}offline (HF_HUB_OFFLINE is set) and not in the cache")
    if isinstance(e, HfHubHTTPError):
        status = e.response.status_code if e.response is not None else "?"
        return FingerprintError(f"{where}the Hub answered HTTP {status}")
    import httpx2

    if isinstance(e, httpx2.TransportError):
        why = str(e).splitlines()[0] if str(e) else type(e).__name__
        return FingerprintError(f"cannot reach the Hub at {constants.ENDPOINT} ({why}); with HF_HUB_OFFLINE=1, "
                                "models read before come from the cache")
    why = str(e).splitlines()[0] if str(e) else type(e).__name__
    return FingerprintError(f"{where}{type(e).__name__}: {why}")


def _from(fetched: dict[Range, bytearray], a: int, b: int) -> bytes:
    """Bytes [a, b) out of fetched pieces that cover them (pieces of one request are adjacent)."""
    out = bytearray()
    for (pa, pb), data in sorted(fetched.items()):
        lo, hi = max(a, pa), min(b, pb)
        if lo < hi:
            out += memoryview(data)[lo - pa:hi - pa]
    if len(out) != b - a:  # partly cached, partly fetched, and the cache unwritable: never guess
        raise FingerprintError(f"bytes {a}-{b} could be neither cached nor fetched whole; check that "
                               f"{cache_root()} is writable")
    return bytes(out)
