"""The consent-withdrawal and in-vehicle-processing checks on synthetic timelines: switch states on
CAN, a vehicle clock 100 times faster than the capture clock, and uploads at chosen vehicle times."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks.consent import check_consent_withdrawal, check_in_vehicle_processing
from harness.checks.timeline import VehicleTime
from harness.findings import Verdict, overall
from harness.net.evidence import CanRecord
from tests.synthetic_evidence import (
    SCALE,
    T0,
    VEHICLE_T0,
    Conversation,
    can_clock,
    evidence,
    http_post,
    mqtt_connect,
    mqtt_publish,
    policy,
    switches,
    wall,
)

END = 120.0


def _positions(times: list[float], dst: str = "203.0.113.10") -> Conversation:
    conversation = Conversation(dst, 1883).send(0.5, mqtt_connect())
    for t in times:
        conversation.send(t, mqtt_publish({"vin": "V", "lat": 31.23, "lon": 121.47}))
    return conversation


def _consent(conversations: list[Conversation], changes: list[tuple[float, str, str]], **kw: object) -> list:
    can = can_clock(END) + switches(changes, END)
    return check_consent_withdrawal(evidence(conversations, can, **kw), policy(), latency_s=2.0)  # type: ignore[arg-type]


def test_vehicle_time_interpolates_between_clock_frames() -> None:
    clock = VehicleTime(can_clock(20.0, step_s=10.0))
    assert abs(clock.at(wall(5.0)) - (VEHICLE_T0 + 5.0)) < 1e-3  # type: ignore[operator]
    assert abs(clock.seconds(wall(3.0), wall(17.5)) - 14.5) < 1e-3
    assert abs(clock.wall_after(wall(4.0), 2.0) - wall(6.0)) < 1e-5
    assert abs(clock.at(T0 + 1.0) - (VEHICLE_T0 + SCALE)) < 1e-3  # type: ignore[operator]  # extrapolated


def test_nothing_after_withdrawal_passes() -> None:
    changes = [(10, "consent.location", "On"), (60, "consent.location", "Off")]
    findings = _consent([_positions([15, 25, 35, 45, 55])], changes)
    assert overall(findings) is Verdict.PASS
    assert any("after consent.location was switched off" in f.detail for f in findings)


def test_position_sent_after_the_latency_fails() -> None:
    changes = [(10, "consent.location", "On"), (60, "consent.location", "Off")]
    findings = _consent([_positions([15, 25, 61, 65])], changes)
    failing = [f for f in findings if f.verdict is Verdict.FAIL]
    assert len(failing) == 1  # 61 s is within the 2 s latency, 65 s is not
    assert "5.0 s (vehicle time) after consent.location was switched off" in failing[0].detail


def test_switching_on_again_ends_the_withdrawal() -> None:
    changes = [(10, "consent.location", "On"), (30, "consent.location", "Off"), (60, "consent.location", "On")]
    assert overall(_consent([_positions([15, 25, 65, 75])], changes)) is Verdict.PASS


def test_mandated_reporting_is_not_governed_by_the_switch() -> None:
    changes = [(10, "consent.location", "On"), (30, "consent.location", "Off")]
    platform = Conversation("203.0.113.20", 32960).send(50, http_post({"vin": "V", "lat": 31.2, "lon": 121.4}))
    assert overall(_consent([platform], changes)) is Verdict.PASS


def test_no_withdrawal_is_inconclusive() -> None:
    findings = _consent([_positions([15])], [(10, "consent.location", "On")])
    assert overall(findings) is Verdict.INCONCLUSIVE


def test_lost_switch_frames_make_a_violation_inconclusive() -> None:
    changes = [(10, "consent.location", "On"), (60, "consent.location", "Off")]
    findings = _consent([_positions([70])], changes, can_gaps={"PrivacySettings": 1})
    assert overall(findings) is Verdict.INCONCLUSIVE


def test_undecodable_payload_while_off_is_inconclusive() -> None:
    changes = [(10, "consent.location", "On"), (30, "consent.location", "Off")]
    opaque = Conversation("203.0.113.10", 8883).send(50, b"\x17\x03\x03\x00\x10" + bytes(16))
    assert overall(_consent([opaque], changes)) is Verdict.INCONCLUSIVE


@settings(max_examples=40, deadline=None)
@given(off_at=st.floats(20, 80), sent_after=st.floats(0, 30))
def test_verdict_follows_the_latency(off_at: float, sent_after: float) -> None:
    changes = [(10, "consent.location", "On"), (off_at, "consent.location", "Off")]
    # the switch is sampled every 10 s on CAN: the withdrawal is seen at the next frame
    seen_off = 10.0 * -(-off_at // 10)
    verdict = overall(_consent([_positions([seen_off + sent_after])], changes))
    if sent_after > 2.001:
        assert verdict is Verdict.FAIL
    elif sent_after < 1.999:
        assert verdict is Verdict.PASS


def _in_vehicle(conversations: list[Conversation], changes: list[tuple[float, str, str]], **kw: object) -> list:
    can = can_clock(END) + switches(changes, END)
    return check_in_vehicle_processing(evidence(conversations, can, **kw), policy())  # type: ignore[arg-type]


def _cabin(times: list[float], dst: str = "203.0.113.60") -> Conversation:
    conversation = Conversation(dst, 8080)
    for t in times:
        conversation.send(t, http_post({"vin": "V", "cabin_image": "/9j/", "face_embedding": [0.1, 0.2]}))
    return conversation


def test_cabin_data_stays_in_the_vehicle_by_default() -> None:
    findings = _in_vehicle([_cabin([])], [])
    assert overall(findings) is Verdict.PASS
    assert any("never switched on" in f.detail for f in findings)


def test_cabin_upload_before_the_owner_switches_on_fails() -> None:
    findings = _in_vehicle([_cabin([5, 65])], [(60, "consent.cabin_camera", "On")])
    failing = [f for f in findings if f.verdict is Verdict.FAIL]
    assert len(failing) == 1 and "biometric, cabin_imagery" in failing[0].detail


def test_cabin_upload_after_the_owner_switches_on_passes() -> None:
    assert overall(_in_vehicle([_cabin([65, 75])], [(60, "consent.cabin_camera", "On")])) is Verdict.PASS


def test_a_category_no_switch_governs_never_leaves() -> None:
    voice = Conversation("203.0.113.70", 8080).send(5, http_post({"vin": "V", "audio": "UklGRg=="}))
    failing = [f for f in _in_vehicle([voice], []) if f.verdict is Verdict.FAIL]
    assert failing and "no owner switch" in failing[0].detail


def test_a_switch_on_from_the_start_leaves_the_default_unobserved() -> None:
    findings = _in_vehicle([_cabin([])], [(0, "consent.cabin_camera", "On")])
    assert overall(findings) is Verdict.INCONCLUSIVE


def test_a_silent_vehicle_shows_nothing_about_its_switches() -> None:
    changes = [(10, "consent.location", "On"), (60, "consent.location", "Off")]
    can = can_clock(END) + switches(changes, END)
    assert overall(check_consent_withdrawal(evidence([], can), policy())) is Verdict.INCONCLUSIVE
    assert overall(check_in_vehicle_processing(evidence([], can), policy())) is Verdict.INCONCLUSIVE


def test_a_clock_standing_still_does_not_hang_the_judgment() -> None:
    frozen = [CanRecord(wall(t), "GlobalTimeSync", 0x0F0, {"time.vehicle_ms": 5_000}) for t in (0, 10, 20)]
    assert VehicleTime(frozen).wall_after(wall(5.0), 2.0) == wall(5.0) + 2.0
