"""JSON over HTTP/1.1 from the vehicle to one cloud endpoint: one persistent connection, reopened
after a failure, with short timeouts so a dead endpoint never stalls the ECU's tick loop.

Uploads are best effort, as a vehicle's are: a failed one is dropped, the next period tries again."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Callable
from typing import Any

from harness.errors import RigError
from harness.rig.config import Endpoint
from harness.vecu.tls import client_context

RETRY_S = 0.5  # wall seconds before reconnecting to an endpoint that failed


class JsonUplink:
    def __init__(self, endpoint: Endpoint, host_name: str | None = None, *, log_keys: bool = True) -> None:
        self.endpoint, self.log_keys = endpoint, log_keys
        self.host_name = host_name or endpoint.dial
        self._conn: http.client.HTTPConnection | None = None
        self._retry_at = 0.0
        self.sent = 0

    def post(self, path: str, document: dict[str, Any], allowed: Callable[[], bool] | None = None) -> bool:
        body = json.dumps(document, separators=(",", ":")).encode("utf-8")
        return self.request("POST", path, body, {"Content-Type": "application/json"}, allowed=allowed)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None,
                allowed: Callable[[], bool] | None = None) -> bool:
        """Any request: a maker's own encodings travel over the same connection. `allowed` is asked
        once the connection (and its TLS handshake) is up, right before the bytes go out: a consent
        withdrawn while connecting stops the upload, as it must within the rule's latency."""
        if time.monotonic() < self._retry_at:
            return False
        try:
            if self._conn is None:
                self._conn = self._connect()
            if self._conn.sock is None:
                self._conn.connect()
            if allowed is not None and not allowed():
                return False
            self._conn.request(method, path, body=body, headers={
                "Host": self.host_name, "Connection": "keep-alive", **(headers or {})})
            response = self._conn.getresponse()
            response.read()
            if response.will_close:
                self.close()
            self.sent += 1
            return 200 <= response.status < 300
        except (OSError, http.client.HTTPException):
            self.close()
            self._retry_at = time.monotonic() + RETRY_S
            return False

    def _connect(self) -> http.client.HTTPConnection:
        if not self.endpoint.tls:
            return http.client.HTTPConnection(self.endpoint.dial, self.endpoint.port, timeout=1.0)
        context = client_context(self.log_keys)
        if context is None:
            raise RigError(f"{self.endpoint.dial} speaks TLS but the rig gave the vehicle no TLS material")
        return http.client.HTTPSConnection(self.endpoint.dial, self.endpoint.port, timeout=1.0, context=context)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
