"""The OTA client's HTTP link to the backend, off the vehicle's tick loop: campaign polls, package
downloads that resume where a cut connection left them (HTTP Range), and status reports.

The backend is dialled by the name the rig configures, over HTTPS with the vehicle's certificate
where the rig lists it for TLS (its secrets go to the key log like every other session). Every call
returns a Future, so a slow or broken link never stalls the state machine."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from harness.errors import RigError
from harness.rig.config import Endpoint
from harness.vecu.tls import client_context

TIMEOUT_S = 3.0
CHUNK = 16 * 1024


class PackageBuffer:
    """The bytes of a package received so far; a download appends, a retry resumes from its end."""

    def __init__(self) -> None:
        self._data = bytearray()
        self._lock = threading.Lock()

    def append(self, chunk: bytes) -> None:
        with self._lock:
            self._data += chunk

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)

    def bytes(self) -> bytes:
        with self._lock:
            return bytes(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()


class BackendLink:
    """Polls and status reports share one kept-alive connection (a TLS handshake per poll would cost
    the vehicle, and the capture's reader, more than the poll); each download has its own."""

    def __init__(self, endpoint: Endpoint, vin: str) -> None:
        self.endpoint, self.vin = endpoint, vin
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="ota-link")
        self._kept: http.client.HTTPConnection | None = None
        self._kept_lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        if not self.endpoint.tls:
            return http.client.HTTPConnection(self.endpoint.dial, self.endpoint.port, timeout=TIMEOUT_S)
        context = client_context()
        if context is None:
            raise RigError(f"{self.endpoint.dial} speaks TLS but the rig gave the vehicle no TLS material")
        return http.client.HTTPSConnection(self.endpoint.dial, self.endpoint.port, timeout=TIMEOUT_S,
                                           context=context)

    def _exchange(self, method: str, url: str, body: bytes | None = None,
                  headers: dict[str, str] | None = None) -> bytes:
        """One request on the kept-alive connection; one the backend dropped while idle is reopened once."""
        with self._kept_lock:
            while True:
                reused = self._kept is not None
                conn = self._kept = self._kept or self._connection()
                try:
                    conn.request(method, url, body=body, headers=headers or {})
                    response = conn.getresponse()
                    data = response.read()
                    if response.will_close:
                        self._drop()
                    return data
                except (OSError, http.client.HTTPException):
                    self._drop()
                    if not reused:
                        raise

    def _drop(self) -> None:
        if self._kept is not None:
            self._kept.close()
            self._kept = None

    def poll(self) -> Future[list[Any]]:
        """The backend's campaign entries for this vehicle, unvalidated."""
        return self._pool.submit(self._poll)

    def _poll(self) -> list[Any]:
        body = json.loads(self._exchange("GET", f"/ota/v1/campaigns?vin={self.vin}"))
        campaigns = body.get("campaigns", []) if isinstance(body, dict) else []
        return campaigns if isinstance(campaigns, list) else []

    def download(self, url: str, into: PackageBuffer) -> Future[None]:
        """Fetch the rest of the package into `into`; raises on a cut or refused connection, keeping
        what arrived, so the next call resumes with a Range request."""
        return self._pool.submit(self._download, url, into)

    def _download(self, url: str, into: PackageBuffer) -> None:
        start = len(into)
        conn = self._connection()
        try:
            conn.request("GET", url, headers={"Range": f"bytes={start}-"} if start else {})
            response = conn.getresponse()
            if response.status not in (200, 206):
                response.read()
                raise http.client.HTTPException(f"package download answered {response.status}")
            if response.status == 200 and start:
                into.clear()  # the server ignored the range: start over
            while True:
                try:
                    chunk = response.read(CHUNK)
                except http.client.IncompleteRead as cut:
                    into.append(cut.partial)
                    raise
                if not chunk:
                    break
                into.append(chunk)
            if response.length:  # the connection closed before the announced length
                raise http.client.IncompleteRead(b"", response.length)
        finally:
            conn.close()

    def report(self, payload: dict[str, Any]) -> None:
        """Tell the backend what happened; best effort (the owner's screen carries the result)."""
        self._pool.submit(self._report, {**payload, "time": time.time()})

    def _report(self, payload: dict[str, Any]) -> None:
        try:
            self._exchange("POST", "/ota/v1/status", json.dumps(payload).encode(),
                           {"Content-Type": "application/json"})
        except (OSError, http.client.HTTPException, RigError):
            pass

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._drop()
