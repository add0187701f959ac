"""The OTA exploration judges each campaign on the CAN recorded so far: what it reads must be what
the whole capture will show, whatever order the kernel delivered the frames in. Without a rig."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import can
import pytest

from harness.can.codec import VehicleCodec
from harness.can.cyclic import CyclicTransmitter
from harness.can.monitor import SignalMonitor
from harness.can.recorder import CanRecorder
from harness.checks.ota_outcome import check_rollback
from harness.scenarios import fastforward
from harness.scenarios.clock import VehicleClock
from harness.scenarios.fastforward import FastForward
from harness.scenarios.ota_explorer import LiveRecording, await_after_end
from harness.vecu.announce import Announcer
from tests.harness_runner import ROOT
from tests.synthetic_evidence import policy, verdicts

CODEC = VehicleCodec.load(ROOT / "dbc" / "vehicle.dbc", ROOT / "dbc" / "vehicle.signals.toml")
CAMPAIGN = 7011
T0 = 1_800_000_000.0


class Tap:
    """The harness's tap on the bus: the recorder and the monitor on one notifier, as on the rig;
    `deliver` hands them a frame of the ECU stamped `t`, in the order the kernel delivers them."""

    def __init__(self) -> None:
        self.recorder, self.monitor = CanRecorder(), SignalMonitor(CODEC)
        self.ecu = CyclicTransmitter(None, CODEC, CODEC.ecu_messages())  # type: ignore[arg-type]

    def frame(self, message: str, t: float, values: dict[str, Any]) -> can.Message:
        self.ecu.set(values)
        msg = self.ecu.frame(message)
        msg.timestamp = t
        return msg

    def deliver(self, msg: can.Message) -> None:
        self.recorder.on_message_received(msg)
        self.monitor.on_message_received(msg)

    def status(self, t: float, state: str, inhibit: int, version: tuple[int, int, int] = (1, 4, 0),
               result: str = "None") -> tuple[can.Message, can.Message]:
        """The ECU's tick: its drive inhibit, then its status (the order the vECU sends them in)."""
        drive = self.frame("DriveInhibit", t, {"ota.inhibit.request": inhibit,
                                               "ota.inhibit.reason": "OtaInstallation" if inhibit else "None"})
        status = self.frame("OtaStatus", t + 0.0001, {
            "ota.status.state": state, "ota.status.campaign_id": CAMPAIGN, "ota.status.result": result,
            "ota.status.version_major": version[0], "ota.status.version_minor": version[1],
            "ota.status.version_patch": version[2]})
        return drive, status


def _installation(tap: Tap) -> tuple[can.Message, can.Message]:
    """A campaign to 1.5.0 installed under drive inhibit, delivered up to its end; the end's two frames
    returned."""
    for page in (0, 1):
        tap.deliver(tap.frame("OtaNotice", T0 - 0.01, {
            "ota.notice.page": page, "ota.notice.campaign_id": CAMPAIGN, "ota.notice.version_major": 1,
            "ota.notice.version_minor": 5, "ota.notice.version_patch": 0}))
    for i, (state, inhibit) in enumerate((("AwaitingConsent", 0), ("Downloading", 0), ("WaitingSafeState", 0),
                                          ("Installing", 1), ("Installing", 1), ("Activating", 1))):
        for msg in tap.status(T0 + 0.01 * i, state, inhibit):
            tap.deliver(msg)
    return tap.status(T0 + 0.1, "Completed", 0, version=(1, 5, 0), result="Success")


def test_a_recording_read_as_the_end_is_seen_can_lack_the_inhibit_sent_beside_it() -> None:
    """The cause of a compliant vehicle failing the exploration once: the tick that completes the
    update sends the drive inhibit's release just before its status, but the status arrived first;
    read at that moment, the recording ends on the installation's inhibit."""
    tap = Tap()
    recording = LiveRecording(tap.recorder, CODEC)
    release, completed = _installation(tap)
    tap.deliver(completed)
    early = check_rollback(recording.evidence(CAMPAIGN), policy(), interruption_expected=False)
    assert verdicts(early) == ["fail"] and "driving stays inhibited" in early[0].detail
    tap.deliver(release)  # the frame stamped earlier arrives later
    whole = check_rollback(recording.evidence(CAMPAIGN), policy(), interruption_expected=False)
    assert verdicts(whole) == ["pass"], whole[0].detail


def test_the_exploration_judges_an_end_once_the_ecu_spoke_after_it() -> None:
    """The exploration waits, after the end, for a drive inhibit sent after the ending status: the
    ECU answers the tick it asks for with one, and the late frame is in the recording by then."""
    tap = Tap()
    recording = LiveRecording(tap.recorder, CODEC)
    recording.evidence(CAMPAIGN)
    release, completed = _installation(tap)
    tap.deliver(completed)
    answered: list[float] = []

    def tick() -> None:  # the ECU answers a moment later; the late release arrives before its answer
        def answer() -> None:
            tap.deliver(release)
            drive, status = tap.status(T0 + 0.2, "Completed", 0, version=(1, 5, 0), result="Success")
            tap.deliver(drive)
            tap.deliver(status)
            answered.append(drive.timestamp)
        threading.Timer(0.05, answer).start()

    assert await_after_end(tap.monitor, tick) and answered
    assert verdicts(check_rollback(recording.evidence(CAMPAIGN), policy(), interruption_expected=False)) == ["pass"]


def test_without_an_answer_the_wait_ends_and_leaves_the_verdict_to_the_check() -> None:
    tap = Tap()
    release, completed = _installation(tap)
    tap.deliver(completed)
    assert not await_after_end(tap.monitor, lambda: None)


def test_the_live_recording_keeps_a_frame_that_arrives_after_one_stamped_later() -> None:
    tap = Tap()
    recording = LiveRecording(tap.recorder, CODEC)
    drive, status = tap.status(T0 + 1.0, "Idle", 0)
    tap.deliver(status)
    assert len(recording.evidence().can) == 1
    tap.deliver(drive)  # stamped 0.1 ms before the status it was sent with
    records = recording.evidence().can
    assert [r.message for r in records] == ["DriveInhibit", "OtaStatus"]


class _Bus(can.BusABC):
    """A bus that keeps what is sent on it."""

    def __init__(self) -> None:
        self.sent: list[can.Message] = []
        super().__init__(channel="test")

    def send(self, msg: can.Message, timeout: float | None = None) -> None:
        self.sent.append(msg)

    def _recv_internal(self, timeout: float | None) -> tuple[None, bool]:
        return None, False


def test_a_tick_asked_for_is_answered_once_with_inhibit_and_status() -> None:
    """The vECU answers a tick it was asked for (a clock frame) with its drive inhibit and status,
    each once: a second frame of the same tick would pass for a later decision of the ECU."""
    bus = _Bus()
    values = {"ota.status.state": "Idle", "ota.inhibit.request": 0}
    announce = Announcer(bus, CODEC, values)
    answer = ["DriveInhibit", "OtaStatus"]
    announce.publish(values, answer)           # first publish: everything is new
    bus.sent.clear()
    announce.publish(values, answer)           # nothing changed, nothing due: the answer alone
    assert [CODEC.decode(m.arbitration_id, bytes(m.data))[0] for m in bus.sent] == answer  # type: ignore[index]
    bus.sent.clear()
    announce.publish({**values, "ota.status.state": "Downloading"}, answer)  # the status changed
    names = [CODEC.decode(m.arbitration_id, bytes(m.data))[0] for m in bus.sent]  # type: ignore[index]
    assert sorted(names) == answer
    bus.sent.clear()
    announce.publish(values | {"ota.status.state": "Downloading"})  # not asked: nothing new, nothing sent
    assert bus.sent == []


def _answering_rig(delay_s: float | None, state: str = "Installing",
                   transfers: Callable[[], tuple[int, int]] | None = None,
                   scale: float = 100.0) -> tuple[Tap, FastForward]:
    """A clock whose jumps go out in a clock frame, and an ECU that answers each `delay_s` later
    with its status `state` (or never, for None)."""
    tap = Tap()
    harness_side = CyclicTransmitter(None, CODEC, CODEC.simulated_messages())  # type: ignore[arg-type]
    clock = VehicleClock(scale)

    def jumped() -> None:
        harness_side.set({"time.vehicle_ms": clock.now_ms()})
        sync = harness_side.frame("GlobalTimeSync")
        sync.timestamp = time.time()
        tap.deliver(sync)
        if delay_s is not None:
            threading.Timer(delay_s, lambda: tap.deliver(tap.status(time.time(), state, 1)[1])).start()

    clock.on_jump(jumped)
    return tap, FastForward(clock, tap.monitor, transfers=transfers)


def test_a_jump_waits_for_the_ecu_to_answer_it() -> None:
    tap, forward = _answering_rig(0.05)
    started = time.monotonic()
    assert forward.jump(60.0) and time.monotonic() - started >= 0.05
    assert tap.monitor.value("ota.status.state") == "Installing"  # what the predicate reads next


def test_an_ecu_that_does_not_answer_gets_the_fixed_period(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fastforward, "ANSWER_S", 0.05)
    _, forward = _answering_rig(None)
    assert not forward.jump(60.0) and not forward.answers
    assert not forward.jump(60.0)  # no second wait for an answer within the same wait


class _Backend:
    """Package requests as the simulated backend counts them: (in flight, answered or dropped)."""

    def __init__(self, in_flight: int = 0) -> None:
        self.requests = (in_flight, 0)

    def __call__(self) -> tuple[int, int]:
        return self.requests

    def attempt_ends(self) -> None:
        self.requests = (0, self.requests[1] + 1)


def _downloading(backend: _Backend) -> tuple[Tap, FastForward, list[float]]:
    tap, forward = _answering_rig(0.001, "Downloading", transfers=backend, scale=1e-6)
    tap.deliver(tap.status(time.time(), "Downloading", 0)[1])
    jumps: list[float] = []
    forward.clock.on_jump(lambda: jumps.append(forward.clock.now()))
    return tap, forward, jumps


def test_an_ecu_whose_download_attempts_keep_failing_is_moved_on_in_growing_jumps() -> None:
    """Once an attempt has ended and none is in flight, the ECU waits (in vehicle time) to try again:
    vehicle time jumps 5 s, doubling with every further attempt that fails, up to a minute."""
    backend = _Backend()
    tap, forward, jumps = _downloading(backend)
    forward.clock.on_jump(backend.attempt_ends)  # a link that stays down: each retry fails at once
    threading.Timer(0.05, backend.attempt_ends).start()  # the first attempt is cut
    before = forward.clock.now()
    forward.through_network(lambda v: False, wall_s=5.0, vehicle_s=300.0)
    steps = [round(b - a, 3) for a, b in zip([before, *jumps[:-1]], jumps, strict=True)]
    assert steps == [5, 10, 20, 40, 60, 60, 60, 45]  # the last one to the end of the 300 s given


def test_an_ecu_still_dialling_its_first_attempt_is_never_jumped_over() -> None:
    """No attempt has ended yet and none is in flight: the ECU may be slow to connect, so vehicle time
    runs at the wall's pace (a jump could pass its give-up time before its first byte)."""
    _, forward, jumps = _downloading(_Backend())
    spent = forward.through_network(lambda v: False, wall_s=0.2, vehicle_s=3600.0)
    assert jumps == [] and spent >= 0.2


def test_while_a_request_is_in_flight_vehicle_time_does_not_jump() -> None:
    """A download in flight runs in wall time: no jump until it ends and the ECU shows the result."""
    backend = _Backend(in_flight=1)
    tap, forward, jumps = _downloading(backend)

    def transferred() -> None:
        backend.attempt_ends()
        tap.deliver(tap.status(time.time(), "Downloaded", 0)[1])

    threading.Timer(0.1, transferred).start()
    spent = forward.through_network(lambda v: False, wall_s=5.0)
    assert jumps == [] and 0.1 <= spent < 2.0
    assert tap.monitor.value("ota.status.state") == "Downloaded"
