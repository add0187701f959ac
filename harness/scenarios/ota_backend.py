"""The OTA backend the harness plays: campaigns, signed packages with resumable download, status.

It serves the vehicle's OTA client over HTTP inside the cloud namespace and remembers what the
vehicle reported; faults (a corrupted package, a wrong signature) are switched on per campaign."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.scenarios.campaign import Campaign


@dataclass
class BackendState:
    signer: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    campaigns: dict[int, Campaign] = field(default_factory=dict)
    faults: dict[int, set[str]] = field(default_factory=dict)
    reports: list[dict[str, Any]] = field(default_factory=list)
    downloads: list[tuple[int, int]] = field(default_factory=list)  # (campaign, first byte)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)


class OtaBackendHandler(BaseHTTPRequestHandler):
    server: OtaBackendServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return  # the capture is the record; stderr noise helps nobody

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlparse(self.path)
        state = self.server.state
        if url.path == "/ota/v1/campaigns":
            vin = parse_qs(url.query).get("vin", [""])[0]
            with state.lock:
                offered = [c.metadata(state.signer) for c in state.campaigns.values()] if vin else []
            self._json(200, {"vin": vin, "campaigns": offered})
        elif url.path.startswith("/ota/v1/packages/"):
            self._package(url.path.rsplit("/", 1)[-1])
        else:
            self._json(404, {"error": "not found"})

    def _package(self, ident: str) -> None:
        state = self.server.state
        with state.lock:
            campaign = state.campaigns.get(int(ident)) if ident.isdigit() else None
            faults = set(state.faults.get(campaign.campaign_id, ())) if campaign else set()
        if campaign is None:
            self._json(404, {"error": "no such package"})
            return
        body = campaign.package
        if "corrupt" in faults:
            body = body[:-1] + bytes([body[-1] ^ 0xFF])
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes=") and ranged[6:].split("-")[0].isdigit():
            start = min(int(ranged[6:].split("-")[0]), len(body))
        with state.lock:
            state.downloads.append((campaign.campaign_id, start))
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        self.wfile.write(body[start:])

    def do_POST(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path != "/ota/v1/status":
            self._json(404, {"error": "not found"})
            return
        try:
            report = json.loads(raw)
        except ValueError:
            self._json(400, {"error": "body is not JSON"})
            return
        state = self.server.state
        with state.changed:
            state.reports.append(report)
            state.changed.notify_all()
        self._json(200, {"ok": True})

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class OtaBackendServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: BackendState) -> None:
        self.state = state
        super().__init__(address, OtaBackendHandler)


class OtaBackend:
    """The test-facing side: offer and withdraw campaigns, inject faults, read status reports."""

    def __init__(self, state: BackendState) -> None:
        self.state = state

    def offer(self, campaign: Campaign, *faults: str) -> Campaign:
        with self.state.lock:
            self.state.campaigns[campaign.campaign_id] = campaign
            self.state.faults[campaign.campaign_id] = set(faults)
        return campaign

    def withdraw(self, campaign_id: int) -> None:
        with self.state.lock:
            self.state.campaigns.pop(campaign_id, None)

    def reports(self, campaign_id: int) -> list[dict[str, Any]]:
        with self.state.lock:
            return [r for r in self.state.reports if r.get("campaign_id") == campaign_id]

    def clear(self) -> None:
        with self.state.lock:
            self.state.campaigns.clear()
            self.state.faults.clear()
            self.state.reports.clear()
            self.state.downloads.clear()
