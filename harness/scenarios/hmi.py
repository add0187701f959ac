"""The owner's screen, as the harness plays it: read what the vehicle shows about an update and
answer it (accept, decline, postpone) at a chosen moment.

Answers go out on CAN in the OtaOwnerAction message as a button press (held until the vehicle
reacts, then released); the vehicle's notice and status are read from the bus, never from the
ECU's logs."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import can

from harness.can.cyclic import CyclicTransmitter
from harness.can.monitor import SignalMonitor
from harness.scenarios.clock import VehicleClock
from harness.scenarios.fastforward import FastForward
from harness.scenarios.log import ScenarioLog

PRESS_S = 1.0      # wall seconds a button is held at most while the vehicle does not react
NOTICE_PAGES = 3
POLL_WAIT_S = 3.0  # wall seconds a poll of the backend may take


@dataclass(frozen=True)
class Notice:
    campaign_id: int
    duration_min: int
    version: tuple[int, int, int]
    purpose: str
    unavailable: int
    cautions: int
    digest: int


class NoticePages(can.Listener):
    """Whether the notice now on screen has been shown whole: pages 0, 1 and 2 after the page 0
    that names its campaign (a notice taken off screen and shown again counts anew)."""

    def __init__(self, monitor: SignalMonitor) -> None:
        self.codec = monitor.codec
        self.frame_id = self.codec.message(self.codec.ref("ota.notice.page").message).frame_id
        self._current, self._pages = 0, set[int]()
        self.shown = 0   # the campaign whose notice is on screen, whole; 0 for none
        self._changed = threading.Condition()

    def on_message_received(self, msg: can.Message) -> None:
        if msg.arbitration_id != self.frame_id:
            return
        decoded = self.codec.decode(msg.arbitration_id, bytes(msg.data))
        if decoded is None or "ota.notice.page" not in decoded[1]:
            return
        values = decoded[1]
        page = int(values["ota.notice.page"])
        with self._changed:
            if page == 0 and int(values.get("ota.notice.campaign_id", 0)) != self._current:
                self._current, self._pages, self.shown = int(values.get("ota.notice.campaign_id", 0)), set(), 0
            self._pages.add(page)
            if self._current and self._pages >= {0, 1, 2}:
                self.shown = self._current
                self._changed.notify_all()

    def wait(self, campaign_id: int, timeout: float) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self.shown == campaign_id, timeout)


class OwnerScreen:
    def __init__(self, tx: CyclicTransmitter, monitor: SignalMonitor, clock: VehicleClock, log: ScenarioLog,
                 forward: FastForward | None = None, notifier: can.Notifier | None = None) -> None:
        self.tx, self.monitor, self.clock, self.log = tx, monitor, clock, log
        # the DBC messages carrying the notice and the status, whatever the vehicle's DBC calls them
        self.notice_message = monitor.codec.ref("ota.notice.page").message
        self.status_message = monitor.codec.ref("ota.status.state").message
        self.forward = forward or FastForward(clock, monitor)
        # on the bus's notifier the screen knows exactly when a notice has been shown whole
        self.notifier = notifier
        self.pages = NoticePages(monitor) if notifier is not None else None
        if notifier is not None and self.pages is not None:
            notifier.add_listener(self.pages)

    def close(self) -> None:
        if self.notifier is not None and self.pages is not None:
            self.notifier.remove_listener(self.pages)

    def reset(self) -> None:
        self.tx.set({"ota.action.campaign_id": 0, "ota.action.action": "None", "ota.action.postpone_min": 0})

    def wait_for_notice(self, campaign_id: int, timeout_vehicle_s: float = 900.0) -> Notice | None:
        """The notice once every page of it has been shown (vehicle time fast-forwarded while the
        vehicle polls for the campaign), or None."""
        def asking(v: Mapping[str, Any]) -> bool:  # the notice is up and the vehicle waits for an answer
            return (v.get("ota.notice.campaign_id") == campaign_id and v.get("ota.status.state") == "AwaitingConsent"
                    and v.get("ota.status.campaign_id") == campaign_id)

        # the vehicle polls the backend over the network, in wall time: a poll in flight may answer
        # after vehicle time has run out
        if not self.forward.until(asking, timeout_vehicle_s) and not self.monitor.wait_for(asking, POLL_WAIT_S):
            return None
        if self.pages is not None:
            if not self.pages.wait(campaign_id, 1.0):
                return None
        else:
            seen = time.time()
            for _ in range(NOTICE_PAGES):  # a whole rotation of the pages after this one
                if not self.monitor.wait_message(self.notice_message, 1.0, after=seen):
                    return None
                seen = self.monitor.last_seen(self.notice_message) or time.time()
        v = self.monitor.snapshot()
        if v.get("ota.notice.campaign_id") != campaign_id:
            return None
        notice = Notice(campaign_id, int(v.get("ota.notice.duration_min", 0)),
                        (int(v.get("ota.notice.version_major", 0)), int(v.get("ota.notice.version_minor", 0)),
                         int(v.get("ota.notice.version_patch", 0))),
                        str(v.get("ota.notice.purpose", "None")), int(v.get("ota.notice.unavailable", 0)),
                        int(v.get("ota.notice.cautions", 0)), int(v.get("ota.notice.digest", 0)))
        self.log.record("notice_seen", campaign_id=campaign_id, duration_min=notice.duration_min)
        return notice

    def answer(self, campaign_id: int, action: str, postpone_min: int = 0) -> None:
        """Press the button until the screen leaves the notice (or a second passes), then release it."""
        self.tx.set({"ota.action.campaign_id": campaign_id, "ota.action.action": action,
                     "ota.action.postpone_min": postpone_min})
        self.tx.send_now(self.monitor.codec.ref("ota.action.action").message)
        self.log.record("owner_action", campaign_id=campaign_id, action=action, postpone_min=postpone_min)
        # held until it is on the bus and the vehicle has left the question (a second at most)
        self.monitor.wait_for(lambda v: v.get("ota.action.action") == action
                              and v.get("ota.action.campaign_id") == campaign_id, PRESS_S)
        self.monitor.wait_for(lambda v: v.get("ota.status.state") != "AwaitingConsent", PRESS_S)
        self.tx.set({"ota.action.action": "None"})
        self.tx.send_now(self.monitor.codec.ref("ota.action.action").message)

    def accept(self, campaign_id: int) -> None:
        self.answer(campaign_id, "Accept")

    def decline(self, campaign_id: int) -> None:
        self.answer(campaign_id, "Decline")

    def postpone(self, campaign_id: int, minutes: int) -> None:
        self.answer(campaign_id, "Postpone", minutes)

    def status(self) -> str:
        return str(self.monitor.value("ota.status.state", "unknown"))

    def result(self) -> tuple[str, str, str]:
        """(state, result, fail reason) as the screen shows them now."""
        v = self.monitor.snapshot()
        return (str(v.get("ota.status.state", "unknown")), str(v.get("ota.status.result", "unknown")),
                str(v.get("ota.status.fail_reason", "unknown")))

    def wait_for_state(self, states: set[str], timeout_vehicle_s: float) -> str | None:
        """Fast-forward until the ECU shows one of `states`; the state, or None."""
        return self.forward.state_in(states, timeout_vehicle_s)
