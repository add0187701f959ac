"""The OTA client's HTTP link to the backend, off the vehicle's tick loop: campaign polls, package
downloads that resume where a cut connection left them (HTTP Range), and status reports.

Every call returns a Future, so a slow or broken link never stalls the state machine."""

from __future__ import annotations

import http.client
import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from harness.rig.config import Endpoint

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
    def __init__(self, endpoint: Endpoint, vin: str) -> None:
        self.endpoint, self.vin = endpoint, vin
        self._pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="ota-link")

    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.endpoint.host, self.endpoint.port, timeout=TIMEOUT_S)

    def poll(self) -> Future[list[Any]]:
        """The backend's campaign entries for this vehicle, unvalidated."""
        return self._pool.submit(self._poll)

    def _poll(self) -> list[Any]:
        conn = self._connection()
        try:
            conn.request("GET", f"/ota/v1/campaigns?vin={self.vin}")
            body = json.loads(conn.getresponse().read())
        finally:
            conn.close()
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
            conn = self._connection()
            conn.request("POST", "/ota/v1/status", body=json.dumps(payload).encode(),
                         headers={"Content-Type": "application/json"})
            conn.getresponse().read()
            conn.close()
        except (OSError, http.client.HTTPException):
            pass

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
