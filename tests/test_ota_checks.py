"""The OTA checks on small synthetic evidence: each one passes what complies, fails the violation it
exists for, and says inconclusive or error where the evidence cannot carry a verdict."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.checks.ota_diagnostics import check_programming_session
from harness.checks.ota_identity import check_software_identification
from harness.checks.ota_inhibit import check_drive_inhibit
from harness.checks.ota_notice import check_notice
from harness.checks.ota_outcome import check_result_notice, check_rollback
from harness.checks.ota_performance import check_performance_disclosure
from harness.checks.ota_safety import check_safe_state
from harness.diag.transcript import isotp_messages
from harness.net.ota_campaign import MalformedCampaign, parse_campaign
from harness.scenarios.campaign import example_campaign, public_key_pem, speed_limiter_campaign
from tests.ota_evidence import DRIVING, PARKED, OtaBus, campaign_list, package_download
from tests.synthetic_evidence import evidence, policy, verdicts

SIGNER = Ed25519PrivateKey.generate()
CAMPAIGN = example_campaign(4201, duration_min=20)
C = CAMPAIGN.campaign_id


def _update(bus: OtaBus, end: str = "Completed", *, start: float = 100.0, motion: dict | None = None,
            version_after: tuple[int, int, int] = (1, 5, 0), result: str = "Success", reason: str = "None",
            inhibit: bool | None = None) -> OtaBus:
    """An accepted update: notice, download, installation from `start`, and its end; the ECU sends
    its status every 10 vehicle seconds, as a cyclic message does."""
    bus.vehicle(0, motion or PARKED).limits(0).notice(10, CAMPAIGN).answer(20, C, "Accept")
    changes = [(0.0, dict(state="Idle", campaign=0)), (10.0, dict(state="AwaitingConsent", campaign=C)),
               (21.0, dict(state="Downloading", campaign=C)), (30.0, dict(state="WaitingSafeState", campaign=C)),
               (start, dict(state="Installing", campaign=C, inhibit=inhibit)),
               (start + 1200, dict(state="Activating", campaign=C, progress=100, inhibit=inhibit)),
               (start + 1260, dict(state=end, campaign=C, version=version_after, result=result, reason=reason))]
    t = 0.0
    while t <= start + 1300:
        current = [c for when, c in changes if when <= t][-1]
        bus.status(t, **current)
        t += 10.0
    return bus


def _served(*extra: object, metadata: dict | None = None) -> list:
    return [campaign_list(5, [metadata or CAMPAIGN.metadata(SIGNER)]), package_download(22, CAMPAIGN), *extra]


# -- campaign metadata ------------------------------------------------------------------------------
def test_campaign_metadata_parses_and_names_what_is_malformed() -> None:
    meta = CAMPAIGN.metadata(SIGNER)
    parsed = parse_campaign(meta)
    assert parsed.duration_min == 20 and parsed.version == "1.5.0" and parsed.digest == CAMPAIGN.notice_digest
    del meta["estimated_duration_min"]
    with pytest.raises(MalformedCampaign, match="estimated_duration_min is missing"):
        parse_campaign(meta)
    with pytest.raises(MalformedCampaign, match="purpose"):
        parse_campaign({**CAMPAIGN.metadata(SIGNER), "purpose": "Marketing"})


# -- notice ----------------------------------------------------------------------------------------
def test_notice_matching_the_campaign_before_download_passes() -> None:
    findings = check_notice(evidence(_served(), _update(OtaBus()).records), policy(), campaign_id=C)
    assert verdicts(findings) == ["pass"], findings


def test_notice_without_duration_fails() -> None:
    bus = OtaBus().vehicle(0, PARKED).status(10, "AwaitingConsent", C).notice(10, CAMPAIGN, duration_min=0)
    findings = check_notice(evidence(_served(), bus.records), policy(), campaign_id=C)
    assert "fail" in verdicts(findings)
    assert "estimated duration shown as 0 min, the campaign says 20" in findings[0].detail


def test_download_before_the_notice_fails() -> None:
    bus = OtaBus().vehicle(0, PARKED).status(10, "AwaitingConsent", C).notice(30, CAMPAIGN)
    findings = check_notice(evidence(_served(), bus.records), policy(), campaign_id=C)
    assert any(f.verdict.value == "fail" and "package download began before" in f.detail for f in findings)


def test_malformed_campaign_metadata_is_an_error_not_a_pass() -> None:
    meta = CAMPAIGN.metadata(SIGNER)
    del meta["estimated_duration_min"]
    findings = check_notice(evidence(_served(metadata=meta), _update(OtaBus()).records), policy(), campaign_id=C)
    assert verdicts(findings) == ["error"] and "estimated_duration_min" in findings[0].detail


def test_notice_without_metadata_in_the_capture_is_inconclusive() -> None:
    findings = check_notice(evidence([], _update(OtaBus()).records), policy())
    assert verdicts(findings) == ["inconclusive"]


# -- safe state and drive inhibit --------------------------------------------------------------------
def test_installation_in_a_safe_state_passes_and_while_moving_fails() -> None:
    assert verdicts(check_safe_state(evidence(_served(), _update(OtaBus()).records), policy())) == ["pass"]
    moving = check_safe_state(evidence(_served(), _update(OtaBus(), motion=DRIVING).records), policy())
    assert set(verdicts(moving)) == {"fail"} and any("began" in f.detail and "moving at 50.0 km/h" in f.detail
                                                     for f in moving)
    # it also waited, while driving, without telling the owner why
    assert any("waited without telling the owner why" in f.detail for f in moving)


def test_installation_without_vehicle_state_is_inconclusive() -> None:
    bus = OtaBus().status(10, "AwaitingConsent", C).status(100, "Installing", C)
    assert verdicts(check_safe_state(evidence(_served(), bus.records), policy())) == ["inconclusive"]


def test_drive_inhibit_during_installation() -> None:
    assert verdicts(check_drive_inhibit(evidence([], _update(OtaBus()).records), policy())) == ["pass"]
    never = check_drive_inhibit(evidence([], _update(OtaBus(), inhibit=False).records), policy())
    assert verdicts(never) == ["fail"] and "not inhibited" in never[0].detail


# -- rollback and result ---------------------------------------------------------------------------------
def test_rollback_to_the_previous_version_passes_and_no_valid_version_fails() -> None:
    def interrupted(version: tuple[int, int, int], inhibit: bool | None = None) -> OtaBus:
        bus = _update(OtaBus(), "RolledBack", result="FailedRolledBack", reason="PowerLoss", version_after=version)
        bus.vehicle(500, PARKED, volts=7.5)
        return bus

    good = check_rollback(evidence([], interrupted((1, 4, 0)).records), policy())
    assert verdicts(good) == ["pass"] and "previous version 1.4.0" in good[0].detail
    bricked = check_rollback(evidence([], interrupted((0, 0, 0)).records), policy())
    assert verdicts(bricked) == ["fail"] and "0.0.0" in bricked[0].detail


def test_rollback_not_exercised_is_inconclusive() -> None:
    assert "inconclusive" in verdicts(check_rollback(evidence([], _update(OtaBus()).records), policy()))


def test_result_told_passes_and_a_silent_end_fails() -> None:
    assert verdicts(check_result_notice(evidence([], _update(OtaBus()).records), policy())) == ["pass"]
    silent = _update(OtaBus(), "Idle", result="None")
    findings = check_result_notice(evidence([], silent.records), policy())
    assert verdicts(findings) == ["fail"] and "showed no result" in findings[0].detail


def test_update_still_running_when_recording_ends_is_inconclusive() -> None:
    bus = OtaBus().vehicle(0, PARKED).status(10, "AwaitingConsent", C).status(20, "Downloading", C)
    assert verdicts(check_result_notice(evidence([], bus.records), policy())) == ["inconclusive"]


# -- performance -------------------------------------------------------------------------------------------
def test_silent_capacity_cut_fails_and_a_declared_change_passes() -> None:
    cut = _update(OtaBus()).limits(1395, capacity=62.2)
    findings = check_performance_disclosure(evidence(_served(), cut.records), policy())
    assert verdicts(findings) == ["fail"] and "usable_capacity_kwh 75 -> 62.2 (-17 %)" in findings[0].detail
    limiter = speed_limiter_campaign(C, (1, 5, 0))
    declared = _update(OtaBus()).limits(1395, speed=160)
    findings = check_performance_disclosure(
        evidence([campaign_list(5, [limiter.metadata(SIGNER)])], declared.records), policy())
    assert verdicts(findings) == ["pass"], findings


# -- diagnostics --------------------------------------------------------------------------------------------
def _isotp(bus: OtaBus, t: float, arbitration_id: int, payload: bytes) -> None:
    """One ISO-TP message as single or first + consecutive frames."""
    if len(payload) <= 7:
        bus.add(t, "Diag", {}, arbitration_id, bytes([len(payload)]) + payload.ljust(7, b"\xcc"))
        return
    bus.add(t, "Diag", {}, arbitration_id, bytes([0x10 | len(payload) >> 8, len(payload) & 0xFF]) + payload[:6])
    rest, sequence = payload[6:], 1
    while rest:
        bus.add(t, "Diag", {}, arbitration_id, bytes([0x20 | sequence & 0x0F]) + rest[:7].ljust(7, b"\xcc"))
        rest, sequence = rest[7:], sequence + 1


@pytest.mark.parametrize(("answer", "verdict"), [(b"\x7f\x10\x22", "pass"), (b"\x50\x02\x00\x32\x01\xf4", "fail"),
                                                 (b"\x7f\x10\x12", "fail"), (None, "inconclusive")])
def test_programming_session_while_driving(answer: bytes | None, verdict: str) -> None:
    bus = OtaBus().vehicle(0, DRIVING)
    _isotp(bus, 10, 0x7E0, b"\x10\x02")
    if answer is not None:
        _isotp(bus, 10.5, 0x7E8, answer)
    findings = check_programming_session(evidence([], bus.records), policy(), transports=["isotp"],
                                         can_request_id=0x7E0, can_response_id=0x7E8)
    assert verdicts(findings) == [verdict], findings


def test_isotp_multi_frame_message_is_reassembled() -> None:
    bus = OtaBus()
    _isotp(bus, 1, 0x7E8, b"\x62\xf1\x95" + b"12.345.678-rc1")
    assert isotp_messages(bus.records, 0x7E8) == [(bus.records[-1].time, b"\x62\xf1\x95" + b"12.345.678-rc1")]


def test_software_version_after_update_must_be_the_campaigns() -> None:
    def read(version: bytes) -> OtaBus:
        bus = _update(OtaBus())
        _isotp(bus, 1400, 0x7E0, b"\x22\xf1\x95")
        _isotp(bus, 1400.5, 0x7E8, b"\x62\xf1\x95" + version)
        return bus

    anchor = public_key_pem(SIGNER).decode()
    good = check_software_identification(evidence(_served(), read(b"1.5.0").records), policy(), trust_anchor=anchor,
                                         can_request_id=0x7E0, can_response_id=0x7E8)
    assert set(verdicts(good)) == {"pass"}, good
    stale = check_software_identification(evidence(_served(), read(b"1.4.0").records), policy(), trust_anchor=anchor,
                                          can_request_id=0x7E0, can_response_id=0x7E8)
    assert "fail" in verdicts(stale) and any("reads '1.4.0'" in f.detail for f in stale)


def test_installing_a_wrongly_signed_package_fails() -> None:
    rogue = Ed25519PrivateKey.generate()
    findings = check_software_identification(
        evidence([campaign_list(5, [CAMPAIGN.metadata(rogue)]), package_download(22, CAMPAIGN)],
                 _update(OtaBus()).records),
        policy(), trust_anchor=public_key_pem(SIGNER).decode())
    assert any(f.verdict.value == "fail" and "signature does not verify" in f.detail for f in findings)
