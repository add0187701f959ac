"""The postponement check: a postponed update is not put to the owner again before the minutes the
owner chose, counted as the ECU can count them from the clock frames on the bus."""

from __future__ import annotations

from harness.checks.ota_postponement import check_postponement, presses
from harness.net.evidence import CanRecord
from tests.ota_evidence import OtaBus
from tests.synthetic_evidence import VEHICLE_T0, can_clock, evidence, policy, verdicts, wall

C = 4201


def _postponed(bus: OtaBus, at: float, minutes: int, held_frames: int = 3) -> OtaBus:
    bus.status(at - 5, "AwaitingConsent", C)
    for i in range(held_frames):  # the button held over several frames is one press
        bus.add(at + i * 0.1, "OtaOwnerAction", {"ota.action.campaign_id": C, "ota.action.action": "Postpone",
                                                 "ota.action.postpone_min": minutes}, 0x3B1)
    bus.add(at + held_frames * 0.1, "OtaOwnerAction", {"ota.action.campaign_id": C, "ota.action.action": "None",
                                                        "ota.action.postpone_min": 0}, 0x3B1)
    return bus.status(at + 0.2, "Postponed", C)


def _judge(bus: OtaBus, until: float, clock_step: float = 2.0) -> list[str]:
    findings = check_postponement(evidence([], bus.records + can_clock(until, clock_step)), policy())
    return verdicts(findings)


def test_asked_again_once_the_chosen_time_has_passed() -> None:
    bus = _postponed(OtaBus(), 100, 60).status(100 + 3600, "AwaitingConsent", C)
    assert _judge(bus, 3800) == ["pass"]


def test_asked_again_a_minute_early_fails() -> None:
    bus = _postponed(OtaBus(), 100, 60).status(100 + 59 * 60, "AwaitingConsent", C)
    findings = check_postponement(evidence([], bus.records + can_clock(3800)), policy())
    assert verdicts(findings) == ["fail"] and "59.0 min" in findings[0].detail


def test_a_vehicle_that_keeps_asking_fails() -> None:
    bus = _postponed(OtaBus(), 100, 60)
    bus.records = [r for r in bus.records if r.values.get("ota.status.state") != "Postponed"]
    bus.status(130, "AwaitingConsent", C)
    assert _judge(bus, 200) == ["fail"]


def test_not_asked_again_within_the_recording_passes() -> None:
    assert _judge(_postponed(OtaBus(), 100, 60).status(1000, "Postponed", C), 1000) == ["pass"]


def test_without_a_postponement_nothing_was_exercised() -> None:
    bus = OtaBus().status(10, "AwaitingConsent", C).answer(20, C, "Accept").status(21, "Downloading", C)
    assert _judge(bus, 100) == ["inconclusive"]


def test_lost_status_frames_make_it_inconclusive() -> None:
    bus = _postponed(OtaBus(), 100, 60).status(100 + 3600, "AwaitingConsent", C)
    findings = check_postponement(evidence([], bus.records + can_clock(3800), can_gaps={"OtaStatus": 2}), policy())
    assert "inconclusive" in verdicts(findings) and "fail" not in verdicts(findings)


def test_time_is_counted_from_the_clock_frames_not_across_a_jump() -> None:
    """The press comes just before the clock jumps an hour, and the compliant ECU asks again at once:
    interpolating between the frame before the press and the jump puts the press most of an hour
    later (a wait of minutes, a false fail); the ECU counted from the last frame it had: 60 min."""
    bus = OtaBus().status(95, "AwaitingConsent", C)
    bus.add(100.4, "OtaOwnerAction", {"ota.action.campaign_id": C, "ota.action.action": "Postpone",
                                      "ota.action.postpone_min": 60}, 0x3B1)
    bus.status(100.45, "Postponed", C).status(100.6, "AwaitingConsent", C)
    clock = [CanRecord(wall(t), "GlobalTimeSync", 0x0F0, {"time.vehicle_ms": int((VEHICLE_T0 + v) * 1000)})
             for t, v in ((98, 98), (99, 99), (100.5, 99 + 3600), (101, 100 + 3600))]
    findings = check_postponement(evidence([], bus.records + clock), policy())
    assert verdicts(findings) == ["pass"] and "60.0 min" in findings[0].detail


def test_a_held_button_is_one_press() -> None:
    bus = _postponed(OtaBus(), 100, 30, held_frames=5)
    found = presses(bus.records)
    assert [(p.campaign, p.minutes) for p in found] == [(C, 30.0)]
