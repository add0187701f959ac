"""The declared-purpose and environment-locality checks on small synthetic evidence: each verdict
the DESIGN's semantics name, including the ones that must not pass."""

from __future__ import annotations

from harness.checks.environment import check_environment_locality
from harness.checks.minimization import check_minimization
from harness.checks.registry import check_named
from harness.findings import Verdict, overall
from tests.synthetic_evidence import Conversation, evidence, http_post, mqtt_connect, mqtt_publish, policy, verdicts


def _telemetry(**extra: object) -> Conversation:
    return Conversation("203.0.113.10", 1883).send(1, mqtt_connect()).send(
        2, mqtt_publish({"vin": "LHVTEST0000000001", "speed": 50.0, **extra}))


def test_registered_for_analyze() -> None:
    assert check_named("minimization") is check_minimization


def test_categories_within_the_declared_purpose_pass() -> None:
    findings = check_minimization(evidence([_telemetry(lat=31.2304, lon=121.4737)]), policy())
    assert overall(findings) is Verdict.PASS
    assert any("telematics" in f.detail for f in findings)


def test_categories_beyond_the_purpose_fail() -> None:
    findings = check_minimization(evidence([_telemetry(phone="+86 000")]), policy())
    failing = [f for f in findings if f.verdict is Verdict.FAIL]
    assert len(failing) == 1
    assert "personal_identity" in failing[0].detail and failing[0].dst == "203.0.113.10:1883"
    assert failing[0].clause == "PIPL Art. 6"


def test_destination_without_any_purpose_fails() -> None:
    upload = Conversation("203.0.113.70", 8080).send(1, http_post({"vin": "X", "odometer": 1}))
    assert overall(check_minimization(evidence([upload]), policy())) is Verdict.FAIL


def test_cabin_imagery_needs_a_purpose_declaring_it() -> None:
    # the telematics endpoint is declared, but not for cabin images
    findings = check_minimization(evidence([_telemetry(cabin_image="/9j/4AAQ")]), policy())
    failing = [f for f in findings if f.verdict is Verdict.FAIL]
    assert failing and "without a purpose declaring" in failing[0].detail


def test_an_approved_export_counts_as_the_destinations_purpose() -> None:
    mirror = Conversation("203.0.113.200", 8080).send(1, http_post({"vin": "X", "speed": 3}))
    assert overall(check_minimization(evidence([mirror]), policy())) is Verdict.PASS


def test_undecodable_payload_to_a_domestic_destination_is_inconclusive() -> None:
    opaque = Conversation("203.0.113.10", 8883).send(1, b"\x16\x03\x01\x00\x05hello")
    findings = check_minimization(evidence([opaque]), policy())
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert any("could not be decoded" in f.detail for f in findings)


def test_flows_without_categories_pass() -> None:
    handshake = Conversation("203.0.113.99", 443)
    findings = check_minimization(evidence([handshake]), policy())
    assert verdicts(findings) == ["pass"]


def test_flows_without_payload_do_not_exercise_what_a_test_expected_sent() -> None:
    # a vehicle that cannot resolve or reach its services sends nothing any purpose could judge
    handshake = Conversation("203.0.113.99", 443)
    findings = check_minimization(evidence([handshake]), policy(), expect_sent=["vehicle_state"])
    assert overall(findings) is Verdict.INCONCLUSIVE and any("carried payload" in f.detail for f in findings)
    findings = check_minimization(evidence([_telemetry()]), policy(), expect_sent=["vehicle_state"])
    assert overall(findings) is Verdict.PASS


def test_an_incomplete_capture_cannot_pass() -> None:
    findings = check_minimization(evidence([_telemetry()], dropped=3), policy())
    assert overall(findings) is Verdict.INCONCLUSIVE
    findings = check_minimization(evidence([_telemetry()], reported=False), policy())
    assert overall(findings) is Verdict.INCONCLUSIVE


def test_no_vehicle_traffic_is_inconclusive() -> None:
    other = Conversation("203.0.113.10", 1883, src="198.51.100.9").send(1, mqtt_connect())
    assert overall(check_minimization(evidence([other]), policy())) is Verdict.INCONCLUSIVE


def test_exterior_imagery_abroad_fails_in_cn_even_with_an_approved_export() -> None:
    upload = Conversation("203.0.113.220", 8080).send(1, http_post({"road_image": "/9j/", "lat": 31.2, "lon": 121.4}))
    findings = check_environment_locality(evidence([upload]), policy("cn"))
    failing = [f for f in findings if f.verdict is Verdict.FAIL]
    assert failing and "allows no export" in failing[0].detail and "CAC-EXPORT-2026-0107" in failing[0].detail


def test_exterior_imagery_abroad_passes_in_eu_with_an_approved_export() -> None:
    upload = Conversation("203.0.113.220", 8080).send(1, http_post({"road_image": "/9j/", "lat": 31.2, "lon": 121.4}))
    # under the EU profile the EU endpoint is at home; move the jurisdiction by mapping it to a third country
    changed = policy("eu", endpoint=[{"cidr": "203.0.113.128/25", "region": "US"}])
    assert overall(check_environment_locality(evidence([upload]), changed)) is Verdict.PASS


def test_exterior_imagery_abroad_without_export_fails_everywhere() -> None:
    upload = Conversation("203.0.113.240", 8080).send(1, http_post({"front_cam": "/9j/"}))
    changed = policy("eu", endpoint=[{"cidr": "203.0.113.128/25", "region": "US"}])
    assert overall(check_environment_locality(evidence([upload]), changed)) is Verdict.FAIL
    assert overall(check_environment_locality(evidence([upload]), policy("cn"))) is Verdict.FAIL


def test_exterior_imagery_at_home_passes() -> None:
    upload = Conversation("203.0.113.50", 8080).send(1, http_post({"road_image": "/9j/", "lat": 31.2, "lon": 121.4}))
    findings = check_environment_locality(evidence([upload]), policy("cn"))
    assert overall(findings) is Verdict.PASS and "1 of them with exterior_imagery" in findings[-1].detail


def test_a_vehicle_that_sent_no_environment_data_leaves_the_rule_unexercised() -> None:
    """Telemetry alone never shows where road imagery goes: inconclusive, naming what was missing."""
    findings = check_environment_locality(evidence([_telemetry(lat=31.2304, lon=121.4737)]), policy("cn"))
    assert overall(findings) is Verdict.INCONCLUSIVE and "was not exercised" in findings[-1].detail
