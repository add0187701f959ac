"""The OTA backend the harness plays: campaigns, signed packages with resumable download, status.

It serves the vehicle's OTA client over HTTPS (HTTP where the rig says so) inside the cloud
namespace, asking for the vehicle's certificate where the rig does, and remembers what the vehicle
reported; faults (a corrupted package, a wrong signature, a cut or slow link, malformed metadata)
are switched on per campaign."""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.scenarios.campaign import Campaign, public_key_pem
from harness.scenarios.servers import JsonHandler, TlsAccepting

# What can go wrong on demand, per campaign:
FAULTS = {
    "corrupt": "one byte of the package is flipped in transit (its digest no longer matches)",
    "bad-signature": "the package is signed with a key that is not the vehicle maker's",
    "network-cut": "the first download stops half-way (the connection drops); later ones succeed",
    "network-down": "the first download stops half-way and the backend stays unreachable until restored",
    "slow-link": "the package trickles in at 32 kB/s",
    "malformed-metadata": "the campaign's metadata lacks its estimated duration",
}
SLOW_LINK_BYTES_PER_S = 32 * 1024
_CHUNK = 4096


@dataclass
class BackendState:
    signer: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    rogue: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    campaigns: dict[int, Campaign] = field(default_factory=dict)
    faults: dict[int, set[str]] = field(default_factory=dict)
    reports: list[dict[str, Any]] = field(default_factory=list)
    downloads: list[tuple[int, int]] = field(default_factory=list)  # (campaign, first byte)
    requests: tuple[int, int] = (0, 0)  # package requests (being answered now, answered or dropped so far)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(init=False)

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def metadata(self, campaign: Campaign) -> dict[str, Any]:
        faults = self.faults.get(campaign.campaign_id, set())
        meta = campaign.metadata(self.rogue if "bad-signature" in faults else self.signer)
        if "malformed-metadata" in faults:
            del meta["estimated_duration_min"]
        return meta


class OtaBackendHandler(JsonHandler):
    server: OtaBackendServer

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        url = urlparse(self.path)
        state = self.server.state
        if url.path == "/ota/v1/campaigns":
            vin = parse_qs(url.query).get("vin", [""])[0]
            with state.lock:
                offered = [state.metadata(c) for c in state.campaigns.values()] if vin else []
            self.send_json(200, {"vin": vin, "campaigns": offered})
        elif url.path.startswith("/ota/v1/packages/"):
            self._package(url.path.rsplit("/", 1)[-1])
        else:
            self.send_json(404, {"error": "not found"})

    def _package(self, ident: str) -> None:
        state = self.server.state
        with state.lock:
            state.requests = (state.requests[0] + 1, state.requests[1])
        try:
            self._answer_package(ident)
        finally:
            with state.lock:
                state.requests = (state.requests[0] - 1, state.requests[1] + 1)

    def _answer_package(self, ident: str) -> None:
        state = self.server.state
        with state.lock:
            campaign = state.campaigns.get(int(ident)) if ident.isdigit() else None
            faults = set(state.faults.get(campaign.campaign_id, ())) if campaign else set()
            earlier = sum(1 for c, _ in state.downloads if campaign and c == campaign.campaign_id)
        if campaign is None:
            self.send_json(404, {"error": "no such package"})
            return
        if "network-down" in faults and earlier:
            self.close_connection = True  # unreachable: the connection drops before any answer
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
        payload = body[start:]
        if ("network-cut" in faults or "network-down" in faults) and not earlier:
            # the link drops half-way through the first transfer
            self.wfile.write(payload[:len(payload) // 2])
            self.close_connection = True
            return
        if "slow-link" in faults:
            for offset in range(0, len(payload), _CHUNK):
                self.wfile.write(payload[offset:offset + _CHUNK])
                self.wfile.flush()
                time.sleep(_CHUNK / SLOW_LINK_BYTES_PER_S)
            return
        self.wfile.write(payload)

    def do_POST(self) -> None:  # noqa: N802
        url = urlparse(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if url.path != "/ota/v1/status":
            self.send_json(404, {"error": "not found"})
            return
        try:
            report = json.loads(raw)
        except ValueError:
            self.send_json(400, {"error": "body is not JSON"})
            return
        state = self.server.state
        with state.changed:
            state.reports.append(report)
            state.changed.notify_all()
        self.send_json(200, {"ok": True})



class OtaBackendServer(TlsAccepting, ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], state: BackendState, tls: ssl.SSLContext | None = None) -> None:
        self.state = state
        self.tls = tls  # HTTPS: the handshake runs in the request's own thread
        super().__init__(address, OtaBackendHandler)


class OtaBackend:
    """The test-facing side: offer and withdraw campaigns, inject faults, read status reports."""

    def __init__(self, state: BackendState) -> None:
        self.state = state

    def offer(self, campaign: Campaign, *faults: str) -> Campaign:
        unknown = sorted(set(faults) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown OTA backend faults {unknown}; known: {', '.join(FAULTS)}")
        with self.state.lock:
            self.state.campaigns[campaign.campaign_id] = campaign
            self.state.faults[campaign.campaign_id] = set(faults)
        return campaign

    def restore(self, campaign_id: int) -> None:
        """Lift every fault of a campaign: the link is back, the package intact."""
        with self.state.lock:
            self.state.faults[campaign_id] = set()

    def withdraw(self, campaign_id: int) -> None:
        with self.state.lock:
            self.state.campaigns.pop(campaign_id, None)

    def downloads(self, campaign_id: int) -> list[int]:
        """The first byte of every package request for the campaign (0 for a fresh download)."""
        with self.state.lock:
            return [start for c, start in self.state.downloads if c == campaign_id]

    def package_requests(self) -> tuple[int, int]:
        """(being answered now, answered or dropped so far): a vehicle that shows it is downloading with
        none in flight is still dialling, or waiting (in vehicle time) to try again."""
        with self.state.lock:
            return self.state.requests

    def reports(self, campaign_id: int) -> list[dict[str, Any]]:
        with self.state.lock:
            return [r for r in self.state.reports if r.get("campaign_id") == campaign_id]

    @property
    def trust_anchor(self) -> str:
        """The vehicle maker's public key (PEM) that genuine packages verify against."""
        return public_key_pem(self.state.signer).decode("ascii")

    def clear(self) -> None:
        with self.state.lock:
            self.state.campaigns.clear()
            self.state.faults.clear()
            self.state.reports.clear()
            self.state.downloads.clear()
