"""A simulated cloud service that takes JSON uploads over HTTP/1.1 (account, maps, driver
monitoring, voice): it answers as a real service does, with keep-alive, so the vehicle behaves normally.

What it receives is not evidence (the capture at the uplink is); it only counts, for diagnostics."""

from __future__ import annotations

import json
import ssl
import threading
from http.server import ThreadingHTTPServer

from harness.scenarios.servers import EitherFamily, JsonHandler, TlsAccepting


class CollectorHandler(JsonHandler):
    server: HttpCollector

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            json.loads(body or b"{}")
        except ValueError:
            self.send_json(400, {"error": "body is not JSON"})
            return
        with self.server.lock:
            self.server.uploads += 1
        self.send_json(200, {"ok": True})

    def do_GET(self) -> None:  # noqa: N802
        self.send_json(404, {"error": "not found"})



class HttpCollector(EitherFamily, TlsAccepting, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], tls: ssl.SSLContext | None = None) -> None:
        self.lock = threading.Lock()
        self.uploads = 0
        self.tls = tls  # HTTPS: the handshake runs in the request's own thread
        super().__init__(address, CollectorHandler)
