"""The vECU's OTA client: poll the backend, show the notice, wait for consent and a safe state,
download, verify, install under drive inhibit, roll back on failure, tell the owner the result.

Compliant by default; a seeded defect removes exactly one safeguard."""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from harness.rig.config import Endpoint
from harness.scenarios.campaign import CAUTIONS, FUNCTIONS, PURPOSES, bitmask, notice_digest

POLL_PERIOD_S = 60.0          # vehicle seconds between campaign polls
ACTIVATION_S = 30.0           # vehicle seconds between installation and the result


@dataclass
class Offer:
    """A campaign as the client understood it from the backend's metadata."""

    campaign_id: int
    target: tuple[int, int, int]
    purpose: str
    duration_min: int
    unavailable: tuple[str, ...]
    cautions: tuple[str, ...]
    digest: int
    package_url: str
    sha256: str
    signature: bytes
    min_soc: float

    @classmethod
    def parse(cls, meta: Mapping[str, Any]) -> Offer:
        major, minor, patch = (int(p) for p in str(meta["target_version"]).split("."))
        package = meta["package"]
        return cls(
            campaign_id=int(meta["campaign_id"]),
            target=(major, minor, patch),
            purpose=str(meta["purpose"]),
            duration_min=int(meta["estimated_duration_min"]),
            unavailable=tuple(meta["unavailable_functions"]),
            cautions=tuple(meta["cautions"]),
            digest=notice_digest(meta["purpose_text"], meta["content_text"], meta["cautions_text"]),
            package_url=str(package["url"]),
            sha256=str(package["sha256"]),
            signature=bytes.fromhex(package["signature"]),
            min_soc=float(meta.get("min_soc_pct", 30.0)),
        )


class OtaClient:
    def __init__(self, endpoint: Endpoint, vin: str, version: tuple[int, int, int],
                 trust_anchor: bytes | None, defects: frozenset[str]) -> None:
        self.endpoint, self.vin, self.defects = endpoint, vin, defects
        key = load_pem_public_key(trust_anchor) if trust_anchor else None
        self.key = key if isinstance(key, Ed25519PublicKey) else None
        self.version = version
        self.state = "Idle"
        self.offer: Offer | None = None
        self.progress = 0
        self.result = "None"
        self.fail_reason = "None"
        self.done: set[int] = set()
        self._next_poll = 0.0
        self._resume_at = 0.0
        self._install_start = 0.0
        self._package = b""

    # -- what the vehicle shows on CAN -------------------------------------------------------
    def outputs(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "ota.status.state": self.state,
            "ota.status.progress_pct": self.progress,
            "ota.status.result": self.result,
            "ota.status.fail_reason": self.fail_reason,
            "ota.status.version_major": self.version[0],
            "ota.status.version_minor": self.version[1],
            "ota.status.version_patch": self.version[2],
            "ota.status.campaign_id": self.offer.campaign_id if self.offer else 0,
            "ota.inhibit.request": 1 if self.state in ("Installing", "Activating") else 0,
            "ota.inhibit.reason": {"Installing": "OtaInstallation", "Activating": "OtaActivation"}.get(
                self.state, "None"),
        }
        offer = self.offer if self.state == "AwaitingConsent" else None
        values.update({
            "ota.notice.campaign_id": offer.campaign_id if offer else 0,
            "ota.notice.duration_min": offer.duration_min if offer else 0,
            "ota.notice.version_major": offer.target[0] if offer else 0,
            "ota.notice.version_minor": offer.target[1] if offer else 0,
            "ota.notice.version_patch": offer.target[2] if offer else 0,
            "ota.notice.purpose": offer.purpose if offer else "None",
            "ota.notice.unavailable": bitmask(offer.unavailable, FUNCTIONS) if offer else 0,
            "ota.notice.cautions": bitmask(offer.cautions, CAUTIONS) if offer else 0,
            "ota.notice.digest": offer.digest if offer else 0,
        })
        return values

    # -- the state machine, advanced on every tick of vehicle time ---------------------------
    def tick(self, now: float, inputs: Mapping[str, Any]) -> None:
        handler = getattr(self, f"_on_{self.state.lower()}", None)
        if handler is not None:
            handler(now, inputs)

    def _on_idle(self, now: float, inputs: Mapping[str, Any]) -> None:
        if now < self._next_poll:
            return
        self._next_poll = now + POLL_PERIOD_S
        offers = self._poll()
        fresh = [o for o in offers if o.campaign_id not in self.done and o.target != self.version]
        if fresh:
            self.offer, self.progress, self.result, self.fail_reason = fresh[0], 0, "None", "None"
            self.state = "AwaitingConsent"
            self._report("notified")

    def _on_awaitingconsent(self, now: float, inputs: Mapping[str, Any]) -> None:
        assert self.offer is not None
        if "install-without-consent" in self.defects:
            self.state = "Downloading"
            return
        if inputs.get("ota.action.campaign_id") != self.offer.campaign_id:
            return
        action = inputs.get("ota.action.action")
        if action == "Accept":
            self.state = "Downloading"
            self._report("accepted")
        elif action == "Decline":
            self.state, self.result = "Declined", "Cancelled"
            self.done.add(self.offer.campaign_id)
            self._report("declined")
        elif action == "Postpone":
            self.state = "Postponed"
            self._resume_at = now + 60.0 * float(inputs.get("ota.action.postpone_min", 60))
            self._report("postponed")

    def _on_postponed(self, now: float, inputs: Mapping[str, Any]) -> None:
        if now >= self._resume_at:
            self.state = "AwaitingConsent"

    def _on_declined(self, now: float, inputs: Mapping[str, Any]) -> None:
        self.state, self.offer = "Idle", None

    def _on_downloading(self, now: float, inputs: Mapping[str, Any]) -> None:
        assert self.offer is not None
        try:
            self._package += self._get(self.offer.package_url, start=len(self._package))
        except (OSError, http.client.HTTPException):
            return  # network trouble: resume from the bytes already held on the next tick
        if hashlib.sha256(self._package).hexdigest() != self.offer.sha256:
            self._fail("DigestMismatch")
        elif not self._signature_ok():
            self._fail("BadSignature")
        else:
            self.state = "Downloaded"

    def _on_downloaded(self, now: float, inputs: Mapping[str, Any]) -> None:
        self.state = "WaitingSafeState"

    def _on_waitingsafestate(self, now: float, inputs: Mapping[str, Any]) -> None:
        assert self.offer is not None
        if safe_to_install(inputs, self.offer.min_soc):
            self.state, self._install_start, self.progress = "Installing", now, 0
            self._report("installing")

    def _on_installing(self, now: float, inputs: Mapping[str, Any]) -> None:
        assert self.offer is not None
        if float(inputs.get("battery.lv_voltage", 12.0)) < 9.0:
            self._fail("PowerLoss", rolled_back=True)
            return
        elapsed = now - self._install_start
        self.progress = min(100, int(100 * elapsed / max(1.0, 60.0 * self.offer.duration_min)))
        if self.progress >= 100:
            self.state = "Activating"

    def _on_activating(self, now: float, inputs: Mapping[str, Any]) -> None:
        assert self.offer is not None
        if now - self._install_start >= 60.0 * self.offer.duration_min + ACTIVATION_S:
            self.version, self.state, self.result = self.offer.target, "Completed", "Success"
            self.done.add(self.offer.campaign_id)
            self._package = b""
            self._report("completed")

    def _on_completed(self, now: float, inputs: Mapping[str, Any]) -> None:
        pass  # the result stays on screen until the next campaign

    def _fail(self, reason: str, rolled_back: bool = False) -> None:
        assert self.offer is not None
        self.state = "RolledBack" if rolled_back else "Failed"
        self.result = "FailedRolledBack" if rolled_back else "Failed"
        self.fail_reason = reason
        self.done.add(self.offer.campaign_id)
        self._package = b""
        self._report("failed")

    def _signature_ok(self) -> bool:
        assert self.offer is not None
        if self.key is None:
            return False
        try:
            self.key.verify(self.offer.signature, self._package)
            return True
        except InvalidSignature:
            return False

    # -- HTTP to the backend ------------------------------------------------------------------
    def _connection(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.endpoint.host, self.endpoint.port, timeout=3.0)

    def _poll(self) -> list[Offer]:
        try:
            conn = self._connection()
            conn.request("GET", f"/ota/v1/campaigns?vin={self.vin}")
            response = conn.getresponse()
            body = json.loads(response.read())
            conn.close()
            return [Offer.parse(meta) for meta in body.get("campaigns", [])]
        except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError):
            return []  # malformed metadata is not an update

    def _get(self, url: str, start: int) -> bytes:
        conn = self._connection()
        headers = {"Range": f"bytes={start}-"} if start else {}
        conn.request("GET", url, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        if response.status not in (200, 206):
            raise http.client.HTTPException(f"package download answered {response.status}")
        return data

    def _report(self, event: str) -> None:
        offer = self.offer
        payload = {"vin": self.vin, "campaign_id": offer.campaign_id if offer else 0, "event": event,
                   "state": self.state, "result": self.result, "fail_reason": self.fail_reason,
                   "version": ".".join(map(str, self.version)), "time": time.time()}
        try:
            conn = self._connection()
            body = json.dumps(payload).encode()
            conn.request("POST", "/ota/v1/status", body=body, headers={"Content-Type": "application/json"})
            conn.getresponse().read()
            conn.close()
        except (OSError, http.client.HTTPException):
            pass  # the owner's screen carries the result; the backend report is best effort


def safe_to_install(inputs: Mapping[str, Any], min_soc: float) -> bool:
    """Stationary, in park, parking brake applied, and enough energy (or charging)."""
    charging = inputs.get("battery.charging_state") in ("ChargingAC", "ChargingDC")
    return (
        float(inputs.get("vehicle.speed_kph", 999.0)) < 0.5
        and inputs.get("vehicle.gear") == "P"
        and inputs.get("vehicle.parking_brake") == "Applied"
        and (float(inputs.get("battery.soc_pct", 0.0)) >= min_soc or charging)
    )


__all__ = ["OtaClient", "Offer", "safe_to_install", "PURPOSES"]
