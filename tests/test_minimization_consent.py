"""The consent-withdrawal and in-vehicle-processing checks on synthetic timelines: switch states on
CAN, a vehicle clock 100 times faster than the capture clock, and uploads at chosen vehicle times."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks.consent import check_consent_withdrawal, check_in_vehicle_processing
from harness.checks.timeline import VehicleTime
from harness.findings import Verdict, overall
from harness.net.evidence import CanRecord, EcuActivity
from harness.policy.policy import Policy
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
LOCATION = {"location withdrawn": {"consent.location": "Off"}}


def _positions(times: list[float], dst: str = "203.0.113.10", plain: Iterable[float] = ()) -> Conversation:
    """Telemetry with a position at `times`, and without one at `plain` (the vehicle still sending)."""
    conversation = Conversation(dst, 1883).send(0.5, mqtt_connect())
    sends = [(t, {"vin": "V", "lat": 31.23, "lon": 121.47}) for t in times]
    sends += [(t, {"vin": "V", "speed": 50}) for t in plain]
    for t, body in sorted(sends, key=lambda s: s[0]):
        conversation.send(t, mqtt_publish(body))
    return conversation


def _every(start: float, stop: float, step: float = 5.0) -> list[float]:
    return [start + i * step for i in range(int((stop - start) / step))]


def _consent(conversations: list[Conversation], changes: list[tuple[float, str, str]], *,
             situations: dict[str, dict[str, str]] | None = LOCATION, judged: Policy | None = None,
             **kw: object) -> list:
    can = can_clock(END) + switches(changes, END)
    return check_consent_withdrawal(evidence(conversations, can, **kw), judged or policy(),  # type: ignore[arg-type]
                                    situations=situations)


def _unseen(findings: list) -> list[str]:
    return [f.detail for f in findings if f.verdict is Verdict.INCONCLUSIVE and "never came about" in f.detail]


def test_vehicle_time_interpolates_between_clock_frames() -> None:
    clock = VehicleTime(can_clock(20.0, step_s=10.0))
    assert abs(clock.at(wall(5.0)) - (VEHICLE_T0 + 5.0)) < 1e-3  # type: ignore[operator]
    assert abs(clock.seconds(wall(3.0), wall(17.5)) - 14.5) < 1e-3
    assert abs(clock.wall_after(wall(4.0), 2.0) - wall(6.0)) < 1e-5
    assert abs(clock.at(T0 + 1.0) - (VEHICLE_T0 + SCALE)) < 1e-3  # type: ignore[operator]  # extrapolated


def test_nothing_after_withdrawal_passes() -> None:
    changes = [(10, "consent.location", "On"), (60, "consent.location", "Off")]
    findings = _consent([_positions([15, 25, 35, 45, 55], plain=_every(65, 120))], changes)
    assert overall(findings) is Verdict.PASS
    assert any("after consent.location was switched off" in f.detail for f in findings)


def test_position_sent_after_the_latency_fails() -> None:
    changes = [(10, "consent.location", "On"), (60, "consent.location", "Off")]
    findings = _consent([_positions([15, 25, 61, 65], plain=_every(70, 120))], changes)
    failing = [f for f in findings if f.verdict is Verdict.FAIL]
    assert len(failing) == 1  # 61 s is within the 2 s latency, 65 s is not
    assert "5.0 s (vehicle time) after consent.location was switched off" in failing[0].detail


def test_switching_on_again_ends_the_withdrawal() -> None:
    changes = [(10, "consent.location", "On"), (30, "consent.location", "Off"), (60, "consent.location", "On")]
    assert overall(_consent([_positions([15, 25, 65, 75])], changes)) is Verdict.PASS


def test_mandated_reporting_is_not_governed_by_the_switch() -> None:
    changes = [(10, "consent.location", "On"), (30, "consent.location", "Off")]
    platform = Conversation("203.0.113.20", 32960).send(50, http_post({"vin": "V", "lat": 31.2, "lon": 121.4}))
    telemetry = _positions([15, 25], plain=_every(35, 120))
    assert overall(_consent([platform, telemetry], changes)) is Verdict.PASS


def test_no_withdrawal_is_inconclusive() -> None:
    findings = _consent([_positions([15], plain=_every(20, 120))], [(10, "consent.location", "On")])
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert _unseen(findings) and "'location withdrawn'" in _unseen(findings)[0]
    assert "no change of consent.location from On to Off" in _unseen(findings)[0]


def test_a_withdrawal_with_nothing_sent_after_it_is_inconclusive() -> None:
    """The switch went off, but the vehicle sent nothing afterwards: it was never seen able to send."""
    changes = [(10, "consent.location", "On"), (60, "consent.location", "Off")]
    findings = _consent([_positions([15, 25, 35, 45, 55])], changes)
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert "'location withdrawn'" in _unseen(findings)[0] and "the closest: 0.0 s" in _unseen(findings)[0]


def test_a_withdrawal_watched_too_briefly_is_inconclusive() -> None:
    """Off for 20 s, but the vehicle went 25 s between positions while allowed: 20 s shows nothing."""
    changes = [(10, "consent.location", "On"), (70, "consent.location", "Off"), (90, "consent.location", "On")]
    findings = _consent([_positions([15, 40, 65, 95], plain=_every(72, 120))], changes)
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert "27.0 s of vehicle time" in _unseen(findings)[0]


def test_a_switch_that_let_nothing_through_shows_nothing_when_withdrawn() -> None:
    changes = [(10, "consent.location", "On"), (60, "consent.location", "Off")]
    findings = _consent([_positions([], plain=_every(15, 120))], changes)
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert "stopping it shows nothing" in _unseen(findings)[0]


def test_every_switch_of_the_netmap_is_promised_by_default() -> None:
    changes = [(10, "consent.location", "On"), (60, "consent.location", "Off")]
    findings = _consent([_positions([15, 25, 35, 45, 55], plain=_every(65, 120))], changes, situations=None)
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert ["consent.cabin_camera" in d for d in _unseen(findings)] == [True]


def test_the_latency_is_the_profiles() -> None:
    changes = [(10, "consent.location", "On"), (60, "consent.location", "Off")]
    late = [_positions([15, 25, 35, 45, 55, 63], plain=_every(65, 120))]
    assert overall(_consent(late, changes)) is Verdict.FAIL  # 3 s after, beyond the profile's 2 s
    judged = policy()
    rule = judged.profile.rule("minimization.consent")
    lenient = replace(judged.profile, rules={**judged.profile.rules, rule.id: replace(rule, limits={"latency_s": 4.0})})
    assert overall(_consent(late, changes, judged=replace(judged, profile=lenient))) is Verdict.PASS


def test_lost_switch_frames_make_a_violation_inconclusive() -> None:
    changes = [(10, "consent.location", "On"), (60, "consent.location", "Off")]
    findings = _consent([_positions([15, 70])], changes, can_gaps={"PrivacySettings": 1})
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
    shared = [t for t in _every(15, seen_off) if t < seen_off]
    verdict = overall(_consent([_positions([*shared, seen_off + sent_after], plain=_every(seen_off, END))], changes))
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


IGNITION_ON = {"ignition on": {"vehicle.ignition": "On"}}


def _ignition(state: str, until: float = END) -> list[CanRecord]:
    return [CanRecord(wall(t), "VehicleMotion", 0x1F0, {"vehicle.ignition": state}) for t in _every(0, until, 1.0)]


def _kept(conversations: list[Conversation], changes: list[tuple[float, str, str]], ignition: str) -> list:
    can = can_clock(END) + switches(changes, END) + _ignition(ignition)
    return check_in_vehicle_processing(evidence(conversations, can), policy(),  # type: ignore[arg-type]
                                       situations=IGNITION_ON)


def test_defaults_kept_with_the_ignition_on_pass() -> None:
    findings = _kept([_cabin([]), _positions([], plain=_every(5, 120))], [], "On")
    assert overall(findings) is Verdict.PASS


def test_defaults_kept_only_with_the_ignition_off_are_inconclusive() -> None:
    """The cabin camera never ran: keeping its frames in the vehicle shows nothing."""
    findings = _kept([_cabin([]), _positions([], plain=_every(5, 120))], [], "Off")
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert "'ignition on'" in _unseen(findings)[0] and "sent nothing while it held" in _unseen(findings)[0]


def test_a_vehicle_seen_sending_only_after_the_owner_switched_on_is_inconclusive() -> None:
    findings = _kept([_cabin([65, 75]), _positions([], plain=_every(62, 120))], [(60, "consent.cabin_camera", "On")],
                     "On")
    assert overall(findings) is Verdict.INCONCLUSIVE and _unseen(findings)


# -- before the owner's settings reach the ECU: a node that boots late ------------------------------
BOOT, APPEAR, LATE_END = 100.0, 150.0, 300.0  # vehicle seconds: the ECU's first frame, the switches' first
NO_SETTINGS = {"ignition on, no setting received": {"vehicle.ignition": "On"}}


def _late(conversations: list[Conversation], *, appear: float | None = APPEAR, boot: float = BOOT,
          first: tuple[tuple[str, str], ...] = (("consent.cabin_camera", "On"),),
          promised: dict[str, dict[str, str]] | None = NO_SETTINGS, **kw: object) -> list:
    """The ECU's first CAN frame at `boot`, the switches' message first on the bus at `appear` (never,
    if None) holding `first`, the ignition on throughout."""
    held = [] if appear is None else [r for r in switches([(appear, s, v) for s, v in first], LATE_END)
                                      if r.time >= wall(appear)]
    judged = evidence(conversations, can_clock(LATE_END) + held + _ignition("On", LATE_END), **kw)
    judged.ecu_activity = {"OtaStatus": EcuActivity(wall(boot), wall(LATE_END), 100, 0.1)}
    return check_in_vehicle_processing(judged, policy(), before_settings=promised)  # type: ignore[arg-type]


def _alive(start: float = BOOT + 1, stop: float = LATE_END) -> Conversation:
    return _positions([], plain=_every(start, stop), dst="203.0.113.10")


def test_cabin_data_kept_until_the_settings_arrive_passes() -> None:
    findings = _late([_cabin(_every(APPEAR + 5, LATE_END, 10.0)), _alive()])
    assert overall(findings) is Verdict.PASS, findings
    assert any("from the ECU's start until consent.cabin_camera first came on the bus" in f.detail for f in findings)


def test_cabin_upload_before_the_switch_reached_the_ecu_fails() -> None:
    findings = _late([_cabin([BOOT + 5, *_every(APPEAR + 5, LATE_END, 10.0)]), _alive()])
    failing = [f for f in findings if f.verdict is Verdict.FAIL]
    assert len(failing) == 1 and "before consent.cabin_camera had been on the bus" in failing[0].detail
    assert "5.0 s (vehicle time) after the ECU started" in failing[0].detail


def test_cabin_upload_with_the_switch_never_on_the_bus_fails() -> None:
    findings = _late([_cabin([BOOT + 5]), _alive()], appear=None, promised=None)
    failing = [f for f in findings if f.verdict is Verdict.FAIL]
    assert len(failing) == 1 and "while consent.cabin_camera was never on the bus" in failing[0].detail


def test_an_upload_before_and_one_after_a_late_off_are_each_told_once() -> None:
    """The switch first appears Off: an upload before it is the unreceived setting's, one after it the default's."""
    findings = _late([_cabin([BOOT + 5, APPEAR + 5]), _alive()], first=(("consent.cabin_camera", "Off"),),
                     promised=None)
    failing = [f.detail for f in findings if f.verdict is Verdict.FAIL]
    assert len(failing) == 2
    assert "had been on the bus" in failing[0] and "still at its default (Off)" in failing[1]


def test_a_switch_on_the_bus_before_the_ecu_started_is_no_time_without_settings() -> None:
    """The switch on from the recording's start, the ECU uploading at once: allowed, and the promised
    situation (no setting received) never came about."""
    findings = _late([_cabin(_every(BOOT + 1, LATE_END, 10.0)), _alive()], appear=0.0)
    assert not [f for f in findings if f.verdict is Verdict.FAIL]
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert "on the bus before the ECU's first frame" in _unseen(findings)[0]
    unpromised = _late([_cabin(_every(BOOT + 1, LATE_END, 10.0)), _alive()], appear=0.0, promised=None)
    assert not [f for f in unpromised if f.verdict is Verdict.FAIL]


def test_a_recording_that_does_not_show_the_ecu_start_is_inconclusive() -> None:
    findings = _late([_cabin(_every(APPEAR + 5, LATE_END, 10.0)), _alive(start=1)], boot=10.0)
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert "does not show the ECU start" in _unseen(findings)[0]
    assert not any("from the ECU's start" in f.detail for f in findings)


def test_a_time_without_settings_shorter_than_the_upload_pace_is_inconclusive() -> None:
    """Without settings for 50 s, but the vehicle took 60 s to upload cabin data once allowed."""
    findings = _late([_cabin([APPEAR + 60]), _alive()])
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert "less than the 60.0 s" in _unseen(findings)[0]


def test_a_vehicle_never_uploading_once_allowed_shows_nothing_before_the_settings() -> None:
    findings = _late([_cabin([]), _alive()])
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert "never left the vehicle once the owner allowed it" in _unseen(findings)[0]


def test_a_vehicle_silent_without_its_settings_is_inconclusive() -> None:
    findings = _late([_cabin(_every(APPEAR + 5, LATE_END, 10.0)), _alive(start=APPEAR + 1)])
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert "sent nothing while it held" in _unseen(findings)[0]


def test_lost_switch_frames_make_an_upload_before_the_settings_inconclusive() -> None:
    findings = _late([_cabin([BOOT + 5, *_every(APPEAR + 5, LATE_END, 10.0)]), _alive()],
                     can_gaps={"PrivacySettings": 2})
    assert overall(findings) is Verdict.INCONCLUSIVE and not [f for f in findings if f.verdict is Verdict.FAIL]
