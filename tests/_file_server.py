"""A local HTTP server for download tests: serves a dict of paths to bytes from a thread on 127.0.0.1.

    with FileServer({"/a.bin": b"..."}) as server:
        server.url("/a.bin"); server.requests["/a.bin"]   # how many times it was asked for

A path in `truncated` announces its full length and closes after half the body;
a path in `slow` waits `slow[path]` seconds before answering. Anything else is a 404.
"""

from __future__ import annotations

import collections
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        pass  # a client that gave up (timeout, Ctrl-C test) breaks the pipe: expected here


class FileServer:
    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files = dict(files or {})
        self.truncated: set[str] = set()
        self.slow: dict[str, float] = {}
        self.requests: collections.Counter = collections.Counter()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                owner.requests[self.path] += 1
                if self.path in owner.slow:
                    time.sleep(owner.slow[self.path])
                body = owner.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in owner.truncated:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self._server = _QuietServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def url(self, path: str = "/") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def __enter__(self) -> FileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
