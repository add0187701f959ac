"""The owner's screen, as the harness plays it: read what the vehicle shows about an update and
answer it (accept, decline, postpone) at a chosen moment.

Answers go out on CAN in the OtaOwnerAction message; the vehicle's notice and status are read
from the bus, never from the ECU's logs."""

from __future__ import annotations

from dataclasses import dataclass

from harness.can.cyclic import CyclicTransmitter
from harness.can.monitor import SignalMonitor
from harness.scenarios.clock import VehicleClock
from harness.scenarios.log import ScenarioLog


@dataclass(frozen=True)
class Notice:
    campaign_id: int
    duration_min: int
    version: tuple[int, int, int]
    purpose: str
    unavailable: int
    cautions: int
    digest: int


class OwnerScreen:
    def __init__(self, tx: CyclicTransmitter, monitor: SignalMonitor, clock: VehicleClock, log: ScenarioLog) -> None:
        self.tx, self.monitor, self.clock, self.log = tx, monitor, clock, log

    def reset(self) -> None:
        self.tx.set({"ota.action.campaign_id": 0, "ota.action.action": "None", "ota.action.postpone_min": 0})

    def wait_for_notice(self, campaign_id: int, timeout_vehicle_s: float = 600.0) -> Notice | None:
        """The notice as displayed once every page of it has been seen, or None."""
        wall = self.clock.wall(timeout_vehicle_s)

        def complete(values: object) -> bool:
            v = self.monitor.snapshot()
            return v.get("ota.notice.campaign_id") == campaign_id and v.get("ota.notice.digest", 0) != 0

        if not self.monitor.wait_for(lambda _: complete(None), wall):
            return None
        v = self.monitor.snapshot()
        notice = Notice(campaign_id, int(v.get("ota.notice.duration_min", 0)),
                        (int(v.get("ota.notice.version_major", 0)), int(v.get("ota.notice.version_minor", 0)),
                         int(v.get("ota.notice.version_patch", 0))),
                        str(v.get("ota.notice.purpose", "None")), int(v.get("ota.notice.unavailable", 0)),
                        int(v.get("ota.notice.cautions", 0)), int(v.get("ota.notice.digest", 0)))
        self.log.record("notice_seen", campaign_id=campaign_id, duration_min=notice.duration_min)
        return notice

    def answer(self, campaign_id: int, action: str, postpone_min: int = 0) -> None:
        self.tx.set({"ota.action.campaign_id": campaign_id, "ota.action.action": action,
                     "ota.action.postpone_min": postpone_min})
        self.log.record("owner_action", campaign_id=campaign_id, action=action, postpone_min=postpone_min)

    def accept(self, campaign_id: int) -> None:
        self.answer(campaign_id, "Accept")

    def decline(self, campaign_id: int) -> None:
        self.answer(campaign_id, "Decline")

    def postpone(self, campaign_id: int, minutes: int) -> None:
        self.answer(campaign_id, "Postpone", minutes)

    def status(self) -> str:
        return str(self.monitor.value("ota.status.state", "unknown"))

    def wait_for_state(self, states: set[str], timeout_vehicle_s: float) -> str | None:
        wall = self.clock.wall(timeout_vehicle_s)
        if self.monitor.wait_for(lambda v: v.get("ota.status.state") in states, wall):
            return self.status()
        return None
