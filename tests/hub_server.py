"""A local HTTP server that impersonates the Hugging Face Hub for a folder of real model files.

`huggingface_hub` pointed at it (``HF_ENDPOINT=<url>``, or ``endpoint=<url>``) sees one model repo per
``root/<org>/<name>/`` folder, with that folder's files (symlinks followed) as the repo's files, all in a single
commit.  It serves the routes that ``HfApi.model_info`` and ``hf_hub_download`` use:

- ``GET /api/models/{org}/{name}[/revision/{rev}]``: the model info JSON (id, sha, siblings with sizes, ...);
- ``HEAD``/``GET /{org}/{name}/resolve/{rev}/{path}``: the file, with the ``X-Repo-Commit`` and ``ETag``
  headers the client relies on, and single ``Range`` requests (206/416); for a file over 10 MB (an LFS file), a
  302 redirect to ``/cdn/{org}/{name}/{sha}/{path}?signature=ok`` (the Hub's signed CDN URL, read without a
  token) with ``X-Linked-Etag``/``X-Linked-Size``, as the Hub sends them;

and the Hub's error convention (``X-Error-Code``: RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo), which
`huggingface_hub` turns into its typed exceptions.  It counts the body bytes it sends, so tests can check how much of
a file a reader actually fetched.

The commit sha, blob ids, LFS oids and ETags are derived from each file's (path, size), not from its content: the
files may be multi-gigabyte (possibly sparse) weights, and hashing them on every request or at start-up would make
the tests slow.  They are deterministic and differ whenever a file is added, removed or resized, which is all the
client needs from them (it uses them as cache keys, never to verify content).
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

LFS_THRESHOLD = 10 * 1024 * 1024  # the Hub stores files above 10 MB in LFS
CHUNK = 1024 * 1024
LAST_MODIFIED = "2024-01-01T00:00:00.000Z"


@dataclass
class Request:
    method: str
    path: str  # as sent by the client (still URL-quoted, with its query string)
    range_header: str | None
    status: int
    body_bytes: int


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _safe_part(part: str) -> bool:
    return part not in ("", ".", "..") and "/" not in part and "\\" not in part and "\0" not in part


class _HubError(Exception):
    def __init__(self, status: int, code: str | None, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


class _Repo:
    """One repo folder: its files (relative posix path -> (path on disk, size)) and derived ids."""

    def __init__(self, repo_id: str, folder: Path):
        self.id = repo_id
        self.files: dict[str, tuple[Path, int]] = {}
        for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
            dirnames.sort()
            for name in filenames:
                path = Path(dirpath, name)
                if path.is_file():
                    self.files[path.relative_to(folder).as_posix()] = (path, path.stat().st_size)
        self.sha = _sha1(json.dumps(sorted((rel, size) for rel, (_, size) in self.files.items())))

    @staticmethod
    def blob_id(rel: str, size: int) -> str:
        return _sha1(f"blob {rel} {size}")

    @staticmethod
    def lfs_oid(rel: str, size: int) -> str:
        return _sha256(f"lfs {rel} {size}")

    def etag(self, rel: str) -> str:
        size = self.files[rel][1]
        return self.lfs_oid(rel, size) if size > LFS_THRESHOLD else self.blob_id(rel, size)

    def info(self, gated: bool) -> dict:
        siblings = []
        for rel, (_, size) in sorted(self.files.items()):
            sibling = {"rfilename": rel, "size": size, "blobId": self.blob_id(rel, size)}
            if size > LFS_THRESHOLD:
                sibling["lfs"] = {"size": size, "sha256": self.lfs_oid(rel, size), "pointerSize": 134}
            siblings.append(sibling)
        return {
            "_id": self.sha[:24], "id": self.id, "modelId": self.id, "author": self.id.split("/")[0],
            "sha": self.sha, "private": False, "gated": "manual" if gated else False, "disabled": False,
            "lastModified": LAST_MODIFIED, "createdAt": LAST_MODIFIED, "tags": [], "downloads": 0, "likes": 0,
            "siblings": siblings, "usedStorage": sum(size for _, size in self.files.values()),
        }


class HubServer:
    def __init__(self, root: Path, gated: dict[str, str] | None = None):
        self.root = Path(root)
        self.gated = dict(gated or {})
        self.url = ""
        self._bytes_sent = 0
        self._file_bytes_sent = 0
        self._requests: list[Request] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._active = 0  # requests being answered
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------
    def start(self) -> HubServer:
        handler = type("Handler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="hub-server", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join()
            self._httpd = self._thread = None

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- counters ---------------------------------------------------------------------------------------------
    def reset(self):
        with self._lock:
            self._bytes_sent = self._file_bytes_sent = 0
            self._requests = []

    # A client has all of a response before the thread that sent it has counted and logged it: the
    # figures wait for every request under way to finish, so a test never reads them mid-update.
    @property
    def bytes_sent(self) -> int:
        with self._settled():
            return self._bytes_sent

    @property
    def file_bytes_sent(self) -> int:
        with self._settled():
            return self._file_bytes_sent

    @property
    def requests(self) -> list[Request]:
        with self._settled():
            return list(self._requests)

    @contextmanager
    def _settled(self):
        with self._idle:
            if not self._idle.wait_for(lambda: self._active == 0, timeout=60):
                raise TimeoutError("the hub server is still answering a request after 60 s")
            yield

    def _busy(self, delta: int):
        with self._lock:
            self._active += delta
            self._idle.notify_all()

    def _count(self, n: int, is_file: bool):
        with self._lock:
            self._bytes_sent += n
            if is_file:
                self._file_bytes_sent += n

    def _log(self, request: Request):
        with self._lock:
            self._requests.append(request)

    # -- repos ------------------------------------------------------------------------------------------------
    def commit(self, repo_id: str) -> str:
        return self._repo(repo_id).sha

    def _repo(self, repo_id: str, authorization: str | None = None, check_gate: bool = False) -> _Repo:
        parts = repo_id.split("/")
        folder = self.root.joinpath(*parts) if len(parts) == 2 and all(map(_safe_part, parts)) else None
        if folder is None or not folder.is_dir():
            raise _HubError(404, "RepoNotFound", f"Repository not found: {repo_id}")
        if check_gate and repo_id in self.gated and authorization != f"Bearer {self.gated[repo_id]}":
            raise _HubError(401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have access to "
                            "it and be authenticated to access it. Please log in.")
        return _Repo(repo_id, folder)

    def _at_revision(self, repo: _Repo, revision: str) -> _Repo:
        if revision not in ("main", repo.sha):
            raise _HubError(404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return repo


def _parse_range(header: str, size: int) -> tuple[int, int]:
    """`bytes=a-b`, `bytes=a-` or `bytes=-n` -> (start, end inclusive); anything else raises a 416."""
    unsatisfiable = _HubError(416, None, "Range Not Satisfiable", {"Content-Range": f"bytes */{size}"})
    unit, _, spec = header.strip().partition("=")
    first, dash, last = spec.strip().partition("-")
    if unit.strip().lower() != "bytes" or "," in spec or not dash:
        raise unsatisfiable
    try:
        if first == "":
            start, end = max(size - int(last), 0), size - 1
            if int(last) <= 0:
                raise ValueError
        else:
            start, end = int(first), min(int(last), size - 1) if last else size - 1
    except ValueError:
        raise unsatisfiable from None
    if start < 0 or start >= size or end < start:
        raise unsatisfiable
    return start, end


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHub/1.0"
    timeout = 60  # drop idle keep-alive connections eventually
    hub: HubServer

    def log_message(self, format, *args):  # silence the default per-request log on stderr
        pass

    def do_GET(self):
        self._handle()

    def do_HEAD(self):
        self._handle()

    def _refuse(self):
        """Other methods: drain a small body so keep-alive stays in sync, then 404."""
        length = int(self.headers.get("Content-Length") or 0)
        if 0 <= length <= CHUNK:
            self.rfile.read(length)
        else:
            self.close_connection = True
        self._handle(route=False)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _refuse

    # -- routing ----------------------------------------------------------------------------------------------
    def _handle(self, route: bool = True):
        self.hub._busy(+1)
        try:
            self._answer(route)
        finally:
            self.hub._busy(-1)

    def _answer(self, route: bool):
        try:
            try:
                if not route:
                    raise _HubError(404, None, "Not Found")
                self._route()
            except _HubError as error:
                self._send_error(error)
        except ConnectionError:  # the client went away mid-response (BrokenPipe, ConnectionReset, ...)
            self.close_connection = True

    def _route(self):
        parts = [unquote(p) for p in urlsplit(self.path).path.split("/")[1:]]
        auth = self.headers.get("Authorization")
        if len(parts) in (4, 6) and parts[:2] == ["api", "models"] and (len(parts) == 4 or parts[4] == "revision"):
            repo = self.hub._repo(f"{parts[2]}/{parts[3]}", auth, check_gate=True)
            repo = self.hub._at_revision(repo, parts[5] if len(parts) == 6 else "main")
            return self._send_json(200, repo.info(gated=repo.id in self.hub.gated))
        if len(parts) >= 5 and parts[2] == "resolve":
            repo = self.hub._repo(f"{parts[0]}/{parts[1]}", auth, check_gate=True)
            repo = self.hub._at_revision(repo, parts[3])
            rel = "/".join(parts[4:])
            if not all(map(_safe_part, parts[4:])) or rel not in repo.files:
                raise _HubError(404, "EntryNotFound", f"{rel} does not exist on \"{parts[3]}\"",
                                {"X-Repo-Commit": repo.sha})
            if repo.files[rel][1] > LFS_THRESHOLD:
                return self._redirect(repo, rel)
            return self._send_file(repo, rel)
        if len(parts) >= 5 and parts[0] == "cdn" and urlsplit(self.path).query == "signature=ok":
            repo = self.hub._at_revision(self.hub._repo(f"{parts[1]}/{parts[2]}"), parts[3])
            rel = "/".join(parts[4:])
            if all(map(_safe_part, parts[4:])) and rel in repo.files:
                return self._send_file(repo, rel)
        raise _HubError(404, None, "Not Found")

    def _redirect(self, repo: _Repo, rel: str):
        """The Hub answers for an LFS file with a redirect to its CDN (a signed URL needing no token),
        carrying the file's commit, etag and size in headers of its own."""
        etag = repo.etag(rel)
        location = f"{self.hub.url}/cdn/{repo.id}/{repo.sha}/{rel}?signature=ok"
        headers = {"Location": location, "X-Repo-Commit": repo.sha, "ETag": f'"{etag}"', "X-Linked-Etag": f'"{etag}"',
                   "X-Linked-Size": str(repo.files[rel][1]), "Content-Length": "0"}
        self._start(302, headers)
        self._record(302, 0)

    # -- responses --------------------------------------------------------------------------------------------
    def _send_error(self, error: _HubError):
        headers = dict(error.headers)
        if error.code:
            headers["X-Error-Code"] = error.code
        headers["X-Error-Message"] = error.message
        self._send_json(error.status, {"error": error.message}, headers)

    def _send_json(self, status: int, payload: dict, headers: dict[str, str] | None = None):
        body = json.dumps(payload).encode()
        self._start(status, {"Content-Type": "application/json", "Content-Length": str(len(body)), **(headers or {})})
        sent = 0
        try:
            if self.command != "HEAD":
                self.wfile.write(body)
                sent = len(body)
                self.hub._count(sent, is_file=False)
        finally:
            self._record(status, sent)

    def _send_file(self, repo: _Repo, rel: str):
        path, size = repo.files[rel]
        etag = repo.etag(rel)
        headers = {"Accept-Ranges": "bytes", "X-Repo-Commit": repo.sha, "ETag": f'"{etag}"'}
        if size > LFS_THRESHOLD:  # what the Hub sends for LFS files (there on its redirect to the CDN)
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(size)})
        range_header = self.headers.get("Range")
        status, start, end = 200, 0, size - 1
        if range_header is not None:
            try:
                start, end = _parse_range(range_header, size)
            except _HubError as error:
                error.headers.update(headers)  # a 416 still names the commit and the file's etag
                raise
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
        headers.update({"Content-Type": "application/octet-stream", "Content-Length": str(end - start + 1)})
        self._start(status, headers)
        sent = 0
        try:
            if self.command != "HEAD":
                with open(path, "rb") as f:
                    f.seek(start)
                    remaining = end - start + 1
                    while remaining > 0:
                        chunk = f.read(min(CHUNK, remaining))
                        if not chunk:  # the file shrank under us: the client will see a short body
                            self.close_connection = True
                            break
                        view = memoryview(chunk)
                        while view:
                            n = self.connection.send(view)
                            self.hub._count(n, is_file=True)
                            sent += n
                            view = view[n:]
                        remaining -= len(chunk)
        finally:
            self._record(status, sent)

    def _start(self, status: int, headers: dict[str, str]):
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

    def _record(self, status: int, body_bytes: int):
        self.hub._log(Request(self.command, self.path, self.headers.get("Range"), status, body_bytes))
