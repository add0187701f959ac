"""The OTA safety checks condition by condition on synthetic evidence: each precondition judged with
the profile's limits, the reason the owner is told, activation under the drive inhibit, and the
situations a test promises, confirmed or named as never seen."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.checks.ota_diagnostics import check_programming_session
from harness.checks.ota_inhibit import check_drive_inhibit
from harness.checks.ota_safety import check_safe_state
from harness.policy.policy import Policy
from tests.ota_evidence import DRIVING, PARKED, OtaBus
from tests.synthetic_evidence import evidence as build_evidence
from tests.synthetic_evidence import policy, verdicts
from tests.test_ota_checks import _isotp

C = 4201
LOW = {"soc": 12.0}


def _waiting(vehicle: list[tuple[float, dict[str, Any], dict[str, Any]]], reasons: list[tuple[float, str]],
             install_at: float | None = None, end: float = 400.0) -> OtaBus:
    """Vehicle states from their times (motion, battery), the ECU waiting for a safe state from 30 s
    with the reasons shown from their times, installing from `install_at`; status every 10 s."""
    bus = OtaBus()
    t = 0.0
    while t <= end:
        motion, battery = [(m, b) for when, m, b in vehicle if when <= t][-1]
        bus.vehicle(t, motion, **battery)
        if t >= 30:
            state = "Installing" if install_at is not None and t >= install_at else "WaitingSafeState"
            reason = [r for when, r in reasons if when <= t][-1] if state == "WaitingSafeState" else "None"
            bus.status(t, state, C, reason=reason)
        else:
            bus.status(t, "Downloading", C)
        t += 10.0
    return bus


def _judge(bus: OtaBus, **params: Any) -> list[Any]:
    return check_safe_state(build_evidence([], bus.records), policy(), min_soc_pct=30.0, **params)


def test_deferral_with_the_rules_reason_confirms_each_promised_situation() -> None:
    bus = _waiting([(0, DRIVING, {}), (150, PARKED, LOW), (300, PARKED, {"soc": 12.0, "charging": "ChargingAC"})],
                   [(0, "UnsafeState"), (150, "LowEnergy")], install_at=310)
    promised = {"driving": {"vehicle.speed_kph": 50.0}, "parked at 12 %": {"vehicle.gear": "P", "battery.soc_pct": 12.0,
                                                                           "battery.charging_state": "NotCharging"},
                "charging at 12 %": {"battery.soc_pct": 12.0, "battery.charging_state": "ChargingAC"}}
    findings = _judge(bus, situations=promised)
    assert set(verdicts(findings)) == {"pass"}, findings
    unseen = _judge(bus, situations={**promised, "stationary in N": {"vehicle.gear": "N"}})
    assert verdicts(unseen).count("inconclusive") == 1
    assert any("'stationary in N'" in f.detail and "never came about" in f.detail for f in unseen)


def test_deferral_with_the_wrong_reason_fails() -> None:
    # parked, only the charge too low: the owner must be told LowEnergy, not UnsafeState
    bus = _waiting([(0, PARKED, LOW)], [(0, "UnsafeState")])
    findings = _judge(bus, installation_expected=False)
    assert "fail" in verdicts(findings)
    assert any("telling the owner UnsafeState while SOC 12.0 % below 30.0 %" in f.detail for f in findings)


def test_each_precondition_fails_on_its_own() -> None:
    cases = {
        "parking brake Released": ({**PARKED, "vehicle.parking_brake": "Released"}, {}),
        "in gear N": ({**PARKED, "vehicle.gear": "N"}, {}),
        "moving at 3.0 km/h": ({**PARKED, "vehicle.speed_kph": 3.0}, {}),
        "SOC 20.0 % below 30.0 %": (PARKED, {"soc": 20.0}),
        "SOC 5.0 % below 7.5 % (25% of the campaign's 30 % while charging)": (
            PARKED, {"soc": 5.0, "charging": "ChargingAC"}),
        "supply 8.9 V below 9.0 V": (PARKED, {"volts": 8.9}),
    }
    for problem, (motion, battery) in cases.items():
        findings = _judge(_waiting([(0, motion, battery)], [(0, "UnsafeState")], install_at=200))
        assert any(f.verdict.value == "fail" and "installation began" in f.detail and problem in f.detail
                   for f in findings), (problem, findings)
    # at the limits themselves the state is safe: charging at exactly the share, supply at the threshold
    at_limits = _judge(_waiting([(0, PARKED, {"soc": 7.5, "charging": "ChargingAC", "volts": 9.0})],
                                [(0, "None")], install_at=200))
    assert set(verdicts(at_limits)) == {"pass"}, at_limits


def test_limits_come_from_the_profile() -> None:
    creeping = _waiting([(0, {**PARKED, "vehicle.speed_kph": 3.0}, {})], [(0, "UnsafeState")], install_at=200)
    assert "fail" in verdicts(_judge(creeping))
    loose = policy()
    rule = loose.profile.rule("ota.safe-state")
    rules = {**loose.profile.rules, rule.id: replace(rule, limits={**rule.limits, "standstill_kph": 5.0})}
    lenient = Policy(replace(loose.profile, rules=rules), loose.netmap)
    findings = check_safe_state(build_evidence([], creeping.records), lenient, min_soc_pct=30.0)
    assert "fail" not in verdicts(findings), findings


def _installation(activation_inhibit: bool, activation_s: float = 60.0) -> OtaBus:
    bus = OtaBus().vehicle(0, PARKED)
    t = 0.0
    while t <= 300 + activation_s + 50:
        state = "Idle" if t < 100 else "Installing" if t < 300 else "Activating" if t < 300 + activation_s \
            else "Completed"
        inhibit = state == "Installing" or (state == "Activating" and activation_inhibit)
        bus.status(t, state, C if t >= 100 else 0, inhibit=inhibit)
        t += 10.0
    return bus


def test_inhibit_released_at_activation_fails_and_an_unseen_activation_is_inconclusive() -> None:
    def judge(bus: OtaBus) -> list[Any]:
        return check_drive_inhibit(build_evidence([], bus.records), policy())

    assert set(verdicts(judge(_installation(True)))) == {"pass"}
    released = judge(_installation(False))
    assert "fail" in verdicts(released) and any("while the update showed Activating" in f.detail for f in released)
    brief = judge(_installation(True, activation_s=10.0))
    assert "inconclusive" in verdicts(brief) and any("inhibit during activating" in f.detail for f in brief)


def test_programming_at_low_speed_fails_and_each_situation_is_confirmed_per_transport() -> None:
    bus = OtaBus().vehicle(0, {**DRIVING, "vehicle.speed_kph": 3.0})
    _isotp(bus, 10, 0x7E0, b"\x10\x02")
    _isotp(bus, 10.5, 0x7E8, b"\x50\x02\x00\x32\x01\xf4")
    creeping = {"creeping": {"vehicle.speed_kph": 3.0, "vehicle.gear": "D"}}
    findings = check_programming_session(build_evidence([], bus.records), policy(), transports=["isotp"],
                                         can_request_id=0x7E0, can_response_id=0x7E8,
                                         situations={**creeping, "in N": {"vehicle.gear": "N"}})
    assert any(f.verdict.value == "fail" and "granted while moving" in f.detail for f in findings)
    assert any(f.verdict.value == "inconclusive" and "'isotp: in N'" in f.detail for f in findings)
    assert not any("'isotp: creeping'" in f.detail for f in findings)


def test_a_reason_that_changes_with_a_brief_state_confirms_it() -> None:
    # parked at 12 % for a single status frame (fast-forwarded time): the reason it changed to answers it
    bus = _waiting([(0, DRIVING, {}), (150, PARKED, LOW), (160, PARKED, {"soc": 12.0, "charging": "ChargingAC"})],
                   [(0, "UnsafeState"), (150, "LowEnergy"), (160, "None")], install_at=170)
    parked = {"parked at 12 %": {"vehicle.gear": "P", "battery.soc_pct": 12.0, "battery.charging_state": "NotCharging"}}
    findings = _judge(bus, situations=parked)
    assert set(verdicts(findings)) == {"pass"}, findings
    # a frame that kept the earlier reason through the brief state is not taken for an answer, nor failed
    stale = _waiting([(0, DRIVING, {}), (150, PARKED, LOW), (160, PARKED, {"soc": 12.0, "charging": "ChargingAC"})],
                     [(0, "UnsafeState"), (160, "None")], install_at=170)
    findings = _judge(stale, situations=parked)
    assert verdicts(findings).count("inconclusive") == 1 and "fail" not in verdicts(findings), findings
