"""The vECU's OTA client: poll the backend, show the notice, wait for consent and a safe state,
download, verify, install under drive inhibit, roll back on failure, tell the owner the result.

Compliant by default; a seeded defect removes exactly one safeguard. Its state lives in an OtaStore,
so a power cycle mid-update comes back on a working version."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from concurrent.futures import Future
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from harness.net.ota_campaign import (
    CAUTIONS,
    FUNCTIONS,
    CampaignMetadata,
    MalformedCampaign,
    bitmask,
    notice_digest,
    parse_campaign,
    version_text,
)
from harness.rig.config import Endpoint
from harness.vecu.ota_link import BackendLink, PackageBuffer
from harness.vecu.ota_store import OtaStore

POLL_PERIOD_S = 60.0          # vehicle seconds between campaign polls
ACTIVATION_S = 30.0           # vehicle seconds between installation and the result
RETRY_S = 15.0                # vehicle seconds between download attempts
GIVE_UP_S = 600.0             # vehicle seconds without download progress before the update fails
UNDERVOLTAGE_V = 9.0          # below this the supply cannot carry an installation
STANDSTILL_KPH = 0.5          # slower than this the vehicle is stationary
CHARGING_SOC_SHARE = 0.25     # while charging, this share of the campaign's minimum still suffices
FACTORY_LIMITS = {"usable_capacity_kwh": 75.0, "max_power_kw": 150.0, "max_speed_kph": 180.0}
SILENT_CUT = 0.83             # the 2019 case: usable capacity cut by 17 % without a word
ACTIVE = ("Downloading", "Downloaded", "WaitingSafeState", "Installing", "Activating")
AT_REST = ("Idle", "Completed", "Failed", "RolledBack", "Declined")


class OtaClient:
    def __init__(self, endpoint: Endpoint, vin: str, version: tuple[int, int, int],
                 trust_anchor: bytes | None, defects: frozenset[str], store: OtaStore | None = None) -> None:
        self.vin, self.defects = vin, defects
        self.link = BackendLink(endpoint, vin)
        self.store = store or OtaStore(None)
        key = load_pem_public_key(trust_anchor) if trust_anchor else None
        self.key = key if isinstance(key, Ed25519PublicKey) else None
        self.factory_version = version
        self.version = version
        self.limits = dict(FACTORY_LIMITS)
        self.state = "Idle"
        self.offer: CampaignMetadata | None = None
        self.progress = 0
        self.result = "None"
        self.fail_reason = "None"
        self.done: set[int] = set()
        self.bricked = False          # only a seeded defect leaves the vehicle without valid software
        self._next_poll = 0.0
        self._poll: Future[list[Any]] | None = None
        self._download: Future[None] | None = None
        self._package = PackageBuffer()
        self._retry_at = 0.0
        self._progress_at: float | None = None  # vehicle time of the last download progress
        self._received = 0
        self._resume_at = 0.0
        self._install_start = 0.0
        self._last_action: tuple[Any, Any] = (0, "None")
        self._restore()

    # -- what the vehicle shows on CAN -------------------------------------------------------
    @property
    def software_id(self) -> str:
        """The software version as ReadDataByIdentifier 0xF195 reports it."""
        shown = self.factory_version if "stale-software-id" in self.defects else self.version
        return version_text(shown)

    def outputs(self) -> dict[str, Any]:
        inhibited, reason = self._inhibit()
        values: dict[str, Any] = {
            "ota.status.state": self.state,
            "ota.status.progress_pct": self.progress,
            "ota.status.result": self.result,
            "ota.status.fail_reason": self.fail_reason,
            "ota.status.version_major": self.version[0],
            "ota.status.version_minor": self.version[1],
            "ota.status.version_patch": self.version[2],
            "ota.status.campaign_id": self.offer.campaign_id if self.offer else 0,
            "ota.inhibit.request": 1 if inhibited else 0,
            "ota.inhibit.reason": reason,
            **{f"limits.{name}": value for name, value in self.limits.items()},
        }
        offer = self.offer if self.state == "AwaitingConsent" else None
        digest = 0
        if offer is not None:
            # what the screen displays; a seeded defect leaves the cautions text off it
            cautions = "" if "notice-digest-mismatch" in self.defects else offer.cautions_text
            digest = notice_digest(offer.purpose_text, offer.content_text, cautions)
        values.update({
            "ota.notice.campaign_id": offer.campaign_id if offer else 0,
            "ota.notice.duration_min": 0 if not offer or "notice-without-duration" in self.defects
            else offer.duration_min,
            "ota.notice.version_major": offer.target_version[0] if offer else 0,
            "ota.notice.version_minor": offer.target_version[1] if offer else 0,
            "ota.notice.version_patch": offer.target_version[2] if offer else 0,
            "ota.notice.purpose": offer.purpose if offer else "None",
            "ota.notice.unavailable": bitmask(offer.unavailable, FUNCTIONS) if offer else 0,
            "ota.notice.cautions": bitmask(offer.cautions, CAUTIONS) if offer else 0,
            "ota.notice.digest": digest,
        })
        return values

    def _inhibit(self) -> tuple[bool, str]:
        """Whether driving is inhibited, and the reason the owner is shown: while the update installs
        and activates, and for good on a vehicle left without valid software."""
        inhibited = self.state in ("Installing", "Activating") or self.bricked
        if "no-drive-inhibit" in self.defects or ("inhibit-released-at-activation" in self.defects
                                                   and self.state == "Activating"):
            inhibited = False
        reason = ("OtaActivation" if self.state == "Activating" else "OtaInstallation") if inhibited else "None"
        return inhibited, "None" if "inhibit-without-reason" in self.defects else reason

    # -- the state machine, advanced on every tick of vehicle time ---------------------------
    def tick(self, now: float, inputs: Mapping[str, Any]) -> None:
        before = (self.state, self.result, self.version, self.bricked)
        action = (inputs.get("ota.action.campaign_id"), inputs.get("ota.action.action"))
        fresh_action = action if action != self._last_action and action[1] not in (None, "None") else None
        self._last_action = action
        if self.state in AT_REST:
            self._at_rest(now)
        else:
            handler = getattr(self, f"_on_{self.state.lower()}")
            handler(now, inputs, fresh_action)
        if (self.state, self.result, self.version, self.bricked) != before:
            self._persist()

    def _at_rest(self, now: float) -> None:
        if self._poll is not None and self._poll.done():
            entries = self._poll.result() if self._poll.exception() is None else []
            self._poll = None
            offers = [o for o in (_parse(e) for e in entries) if o is not None]
            fresh = [o for o in offers if o.campaign_id not in self.done and o.target_version != self.version]
            if fresh:
                self.offer, self.progress, self.result, self.fail_reason = fresh[0], 0, "None", "None"
                self.state = "AwaitingConsent"
                self._report("notified")
        elif self._poll is None and now >= self._next_poll:
            self._next_poll = now + POLL_PERIOD_S
            self._poll = self.link.poll()

    def _on_awaitingconsent(self, now: float, inputs: Mapping[str, Any], action: tuple[Any, Any] | None) -> None:
        assert self.offer is not None
        if "install-without-consent" in self.defects:
            self._start_download(now)
            return
        if action is None or action[0] != self.offer.campaign_id:
            return
        if action[1] == "Accept":
            self._report("accepted")
            self._start_download(now)
        elif action[1] == "Decline":
            self.done.add(self.offer.campaign_id)
            self._finish("Declined", "Cancelled", "None", "declined")
        elif action[1] == "Postpone":
            self.state = "Postponed"
            # a seeded defect asks again after a minute, whatever the owner chose
            minutes = 1.0 if "postponement-ignored" in self.defects else \
                max(1.0, float(inputs.get("ota.action.postpone_min", 60)))
            self._resume_at = now + 60.0 * minutes
            self._report("postponed")

    def _on_postponed(self, now: float, inputs: Mapping[str, Any], action: tuple[Any, Any] | None) -> None:
        if now >= self._resume_at:
            self.state = "AwaitingConsent"  # the owner is asked again

    def _start_download(self, now: float) -> None:
        self.state, self._retry_at, self._progress_at, self._received = "Downloading", now, now, 0
        self._package.clear()

    def _on_downloading(self, now: float, inputs: Mapping[str, Any], action: tuple[Any, Any] | None) -> None:
        offer = self.offer
        assert offer is not None
        if self._progress_at is None:  # resumed after a restart
            self._progress_at = now
        if self._download is None:
            if now >= self._retry_at:
                self._download = self.link.download(offer.package_url, self._package)
            return
        if not self._download.done():
            return
        failed = self._download.exception() is not None
        self._download = None
        received = len(self._package)
        self.progress = min(100, 100 * received // offer.package_size)
        if failed or received < offer.package_size:
            if received > self._received:
                self._progress_at, self._received = now, received
            self._retry_at = now + RETRY_S
            if now - self._progress_at >= GIVE_UP_S:
                self._fail("NetworkLost")
            return
        package = self._package.bytes()
        if hashlib.sha256(package).hexdigest() != offer.package_sha256:
            self._fail("DigestMismatch")
        elif not self._signature_ok(package) and "accepts-bad-signature" not in self.defects:
            self._fail("BadSignature")
        else:
            self.state, self.progress = "Downloaded", 0

    def _on_downloaded(self, now: float, inputs: Mapping[str, Any], action: tuple[Any, Any] | None) -> None:
        self.state = "WaitingSafeState"

    def _on_waitingsafestate(self, now: float, inputs: Mapping[str, Any], action: tuple[Any, Any] | None) -> None:
        assert self.offer is not None
        why = unsafe_reason(inputs, self.offer.min_soc_pct, self.defects)
        if why is None or "install-while-moving" in self.defects:
            self.state, self._install_start, self.progress, self.fail_reason = "Installing", now, 0, "None"
            self._report("installing")
        else:
            self.fail_reason = why  # the owner sees why the installation waits

    def _on_installing(self, now: float, inputs: Mapping[str, Any], action: tuple[Any, Any] | None) -> None:
        assert self.offer is not None
        if float(inputs.get("battery.lv_voltage", 12.0)) < UNDERVOLTAGE_V:
            self._power_lost()
            return
        elapsed = now - self._install_start
        self.progress = min(100, int(100 * elapsed / max(1.0, 60.0 * self.offer.duration_min)))
        if self.progress >= 100:
            self.state = "Activating"

    def _on_activating(self, now: float, inputs: Mapping[str, Any], action: tuple[Any, Any] | None) -> None:
        offer = self.offer
        assert offer is not None
        if float(inputs.get("battery.lv_voltage", 12.0)) < UNDERVOLTAGE_V:
            self._power_lost()
            return
        if now - self._install_start >= 60.0 * offer.duration_min + ACTIVATION_S:
            self.version = offer.target_version
            for name, value in offer.declared_changes.items():
                if name in self.limits:
                    self.limits[name] = value
            if "silent-capacity-cut" in self.defects:
                self.limits["usable_capacity_kwh"] = round(self.limits["usable_capacity_kwh"] * SILENT_CUT, 1)
            self.done.add(offer.campaign_id)
            self._package.clear()
            self._finish("Completed", "Success", "None", "completed")

    def _power_lost(self) -> None:
        """The supply failed during installation: the new image is incomplete."""
        if "no-rollback-after-power-loss" in self.defects:
            # the half-written image is left active: no valid software, driving stays inhibited
            self.version, self.bricked = (0, 0, 0), True
            self._fail("PowerLoss")
        else:
            self._fail("PowerLoss", rolled_back=True)  # the previous image never stopped being the valid one

    def _fail(self, reason: str, rolled_back: bool = False) -> None:
        assert self.offer is not None
        self.done.add(self.offer.campaign_id)
        self._package.clear()
        self._finish("RolledBack" if rolled_back else "Failed", "FailedRolledBack" if rolled_back else "Failed",
                     reason, "failed")

    def _finish(self, state: str, result: str, reason: str, event: str) -> None:
        if "no-result-notice" in self.defects:
            self.state, self.result, self.fail_reason, self.offer = "Idle", "None", "None", None
        else:
            self.state, self.result, self.fail_reason = state, result, reason
        self._report(event)

    def _signature_ok(self, package: bytes) -> bool:
        assert self.offer is not None
        if self.key is None:
            return False
        try:
            self.key.verify(self.offer.package_signature, package)
            return True
        except InvalidSignature:
            return False

    def _report(self, event: str) -> None:
        offer = self.offer
        self.link.report({"vin": self.vin, "campaign_id": offer.campaign_id if offer else 0, "event": event,
                          "state": self.state, "result": self.result, "fail_reason": self.fail_reason,
                          "version": version_text(self.version)})

    # -- non-volatile memory -----------------------------------------------------------------
    def _persist(self) -> None:
        self.store.save({
            "version": list(self.version), "limits": self.limits, "state": self.state,
            "offer": self.offer.raw if self.offer else None, "result": self.result,
            "fail_reason": self.fail_reason, "done": sorted(self.done), "bricked": self.bricked,
        })

    def _restore(self) -> None:
        record = self.store.load()
        if record is None:
            return
        self.version = tuple(record["version"])  # type: ignore[assignment]
        self.limits.update(record.get("limits", {}))
        self.done = set(record.get("done", []))
        self.bricked = bool(record.get("bricked", False))
        self.offer = _parse(record.get("offer")) if record.get("offer") else None
        self.state, self.result = record.get("state", "Idle"), record.get("result", "None")
        self.fail_reason = record.get("fail_reason", "None")
        if self.offer is None and self.state not in AT_REST:
            self.state = "Idle"
        elif self.state in ("Installing", "Activating"):
            self._power_lost()  # power came back in the middle of an installation
        elif self.state in ACTIVE:
            self.state, self._progress_at = "Downloading", None  # the package in RAM is gone: fetch it again
        self._persist()

    def close(self) -> None:
        self.link.close()


def _parse(entry: Any) -> CampaignMetadata | None:
    try:
        return parse_campaign(entry)
    except MalformedCampaign:
        return None  # malformed metadata is not an update


def unsafe_reason(inputs: Mapping[str, Any], min_soc: float, defects: frozenset[str] = frozenset()) -> str | None:
    """Why installation may not start now (OtaFailReason), or None: stationary, in park, parking
    brake applied, and enough energy: the campaign's minimum charge (a share of it while charging)
    and a supply that can carry the installation. A seeded defect drops exactly one condition."""
    speed_limit = 5.0 if "install-while-creeping" in defects else STANDSTILL_KPH
    stationary = float(inputs.get("vehicle.speed_kph", 999.0)) < speed_limit
    in_park = inputs.get("vehicle.gear") == "P" or "install-ignores-gear" in defects
    braked = inputs.get("vehicle.parking_brake") == "Applied" or "install-ignores-parking-brake" in defects
    if not (stationary and in_park and braked):
        return "UnsafeState"
    soc = float(inputs.get("battery.soc_pct", 0.0))
    charging = inputs.get("battery.charging_state") in ("ChargingAC", "ChargingDC")
    needed = min_soc * CHARGING_SOC_SHARE if "install-below-minimum-charge" in defects else min_soc
    if charging:
        needed = 0.0 if "install-while-charging-at-any-charge" in defects else min(needed, min_soc * CHARGING_SOC_SHARE)
    supply_ok = float(inputs.get("battery.lv_voltage", 0.0)) >= UNDERVOLTAGE_V or "install-on-undervoltage" in defects
    if soc < needed or not supply_ok:
        return "LowEnergy"
    return None
