"""The national-platform-scope check on synthetic GB/T 32960 sessions: the standard's login and
reports pass; custom units, undefined commands, side channels and missing units do not."""

from __future__ import annotations

from datetime import datetime

from scapy.packet import Raw

from harness.checks.national_platform import check_national_platform
from harness.findings import Verdict, overall
from harness.net import gbt32960
from tests.gbt_reports import full_report
from tests.synthetic_evidence import Conversation, evidence, http_post, policy

VIN = "LHVTEST0000000001"
WHEN = datetime(2026, 11, 25, 10, 0, 0)
EV_UNITS = [0x01, 0x02, 0x05, 0x06, 0x07]


def _report(**extra: object) -> bytes:
    return full_report(VIN, WHEN, **extra)


def _session(*frames: bytes, login: bool = True) -> Conversation:
    conversation = Conversation("203.0.113.20", 32960)
    if login:
        conversation.send(1, gbt32960.build_login(VIN, WHEN, 1, "89860012345678901234"))
    for i, frame in enumerate(frames):
        conversation.send(2 + i, frame)
    return conversation


def _judge(*conversations: Conversation) -> list:
    return check_national_platform(evidence(conversations), policy(), required_units=EV_UNITS)


def test_login_and_standard_reports_pass() -> None:
    findings = _judge(_session(_report(), _report(), gbt32960.build_heartbeat(VIN)))
    assert overall(findings) is Verdict.PASS
    assert "1 vehicle logins and 2 real-time reports" in findings[-1].detail


def test_a_custom_information_unit_fails() -> None:
    custom = _report(extra_units=[Raw(b"\x80\x00\x0b+8613800000")])
    findings = _judge(_session(_report(), custom))
    failing = [f for f in findings if f.verdict is Verdict.FAIL]
    assert len(failing) == 1 and "custom information unit 0x80" in failing[0].detail
    assert failing[0].dst == "203.0.113.20:32960"


def test_a_report_without_a_required_unit_fails() -> None:
    findings = _judge(_session(_report(alarms=None)))
    assert [f.detail for f in findings if f.verdict is Verdict.FAIL] == [
        "real-time report to 203.0.113.20 lacks the required alarms unit"]


def test_reports_before_login_fail() -> None:
    assert overall(_judge(_session(_report(), login=False))) is Verdict.FAIL


def test_a_command_the_standard_does_not_give_a_vehicle_fails() -> None:
    platform_login = bytes(gbt32960._header(0x05, VIN) / gbt32960.GBT32960Logout(collection_time=WHEN, serial=1))
    findings = _judge(_session(_report(), platform_login))
    assert any("not a command the standard defines" in f.detail for f in findings if f.verdict is Verdict.FAIL)


def test_a_json_side_channel_to_the_platform_fails() -> None:
    side = Conversation("203.0.113.20", 8080, sport=40001).send(3, http_post({"vin": VIN, "soc": 80}))
    findings = _judge(_session(_report()), side)
    assert any("side channel" in f.detail for f in findings if f.verdict is Verdict.FAIL)


def test_no_report_at_all_fails() -> None:
    findings = _judge(_session())
    assert overall(findings) is Verdict.FAIL and "no real-time report" in findings[-1].detail


def test_a_netmap_without_a_platform_is_inconclusive() -> None:
    netmap_purposes = [{"destination": "203.0.113.10", "name": "telematics", "categories": ["vin"]}]
    findings = check_national_platform(evidence([_session(_report())]), policy(purpose=netmap_purposes))
    assert overall(findings) is Verdict.INCONCLUSIVE


def test_a_corrupted_frame_cannot_pass() -> None:
    bad = bytearray(_report())
    bad[-1] ^= 0xFF
    assert overall(_judge(_session(_report(), bytes(bad)))) is Verdict.INCONCLUSIVE
