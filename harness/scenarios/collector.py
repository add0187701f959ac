"""A simulated cloud service that takes JSON uploads over HTTP/1.1 (account, maps, driver
monitoring, voice): it answers as a real service does, with keep-alive, so the vehicle behaves normally.

What it receives is not evidence (the capture at the uplink is); it only counts, for diagnostics."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class CollectorHandler(BaseHTTPRequestHandler):
    server: HttpCollector
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return  # the capture is the record

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            json.loads(body or b"{}")
        except ValueError:
            self._answer(400, {"error": "body is not JSON"})
            return
        with self.server.lock:
            self.server.uploads += 1
        self._answer(200, {"ok": True})

    def do_GET(self) -> None:  # noqa: N802
        self._answer(404, {"error": "not found"})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class HttpCollector(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int]) -> None:
        self.lock = threading.Lock()
        self.uploads = 0
        super().__init__(address, CollectorHandler)
