"""A local HTTP server for files a publisher hosts (NVIDIA's CDN, say), on 127.0.0.1 only.

It serves ``files`` (URL path -> bytes) with a strong ETag, single ``Range: bytes=N-`` requests
honoured under ``If-Range`` as RFC 9110 says (a stale validator gets the whole file, 200), and 404
otherwise. ``cut_after`` makes the next response stop after that many body bytes and drop the
connection, as a network failure would. It records every request and counts the body bytes sent.
"""
from __future__ import annotations

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FileServer:
    def __init__(self, files: dict[str, bytes]):
        self.files = dict(files)
        self.cut_after: int | None = None
        self.requests: list[dict] = []
        self.sent = 0
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def etag(self, path: str) -> str:
        return '"' + hashlib.sha256(self.files[path]).hexdigest()[:16] + '"'

    def __enter__(self) -> "FileServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                with server._lock:
                    server.requests.append({"path": self.path, **{k.lower(): v for k, v in self.headers.items()}})
                    cut, server.cut_after = server.cut_after, None
                body = server.files.get(self.path)
                if body is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                start, status = 0, 200
                rng, if_range = self.headers.get("Range", ""), self.headers.get("If-Range")
                if rng.startswith("bytes=") and rng.endswith("-") and (if_range is None or if_range == server.etag(self.path)):
                    start = int(rng[6:-1])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    status = 206
                self.send_response(status)
                self.send_header("ETag", server.etag(self.path))
                self.send_header("Content-Length", str(len(body) - start))
                if status == 206:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.end_headers()
                chunk = body[start:] if cut is None else body[start:start + cut]
                self.wfile.write(chunk)
                with server._lock:
                    server.sent += len(chunk)
                if cut is not None:
                    self.close_connection = True

        return Handler
