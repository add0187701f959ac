"""The OTA checks read the backend over TLS: campaign lists and packages decrypted with the vehicle's
key log judge as over plain HTTP; sessions the key log cannot open leave every verdict that needs the
campaign inconclusive, naming the session, never a pass."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.checks.ota_identity import check_software_identification
from harness.checks.ota_notice import check_notice
from harness.checks.ota_performance import check_performance_disclosure
from harness.checks.ota_safety import check_safe_state
from harness.findings import Finding, Verdict, overall
from harness.net.keylog import KeyLog, load_keylog, parse_keylog
from harness.net.ota_wire import http_exchanges, opaque_sessions, served_campaigns
from harness.scenarios.campaign import example_campaign, public_key_pem
from harness.scenarios.rig_ca import RigCa
from tests.ota_evidence import PARKED, OtaBus
from tests.synthetic_evidence import evidence, policy, verdicts
from tests.tls_evidence import OTA_NAME, Tls, TlsConversation, campaign_list, package_download

SIGNER = Ed25519PrivateKey.generate()
CAMPAIGN = example_campaign(4301, duration_min=20)
C = CAMPAIGN.campaign_id


def _update() -> OtaBus:
    """Notice, consent, download and a completed installation, the ECU's status every 10 vehicle seconds."""
    bus = OtaBus().vehicle(0, PARKED).limits(0).notice(10, CAMPAIGN).answer(20, C, "Accept")
    changes = [(0.0, dict(state="Idle", campaign=0)), (10.0, dict(state="AwaitingConsent", campaign=C)),
               (21.0, dict(state="Downloading", campaign=C)), (100.0, dict(state="Installing", campaign=C)),
               (1300.0, dict(state="Activating", campaign=C, progress=100)),
               (1360.0, dict(state="Completed", campaign=C, version=(1, 5, 0), result="Success"))]
    t = 0.0
    while t <= 1400:
        bus.status(t, **[c for when, c in changes if when <= t][-1])
        t += 10.0
    bus.limits(1370)
    return bus


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[TlsConversation], KeyLog]:
    """The campaign list and the package over mutual TLS, and the key log the vehicle wrote."""
    tls = Tls.made_in(tmp_path_factory.mktemp("tls"))
    served = [campaign_list(tls, 5, [CAMPAIGN.metadata(SIGNER)]), package_download(tls, 22, CAMPAIGN)]
    assert tls.keylog is not None and not any(s.failed for s in served)
    return served, load_keylog(tls.keylog)


def _judge_all(conversations: list[TlsConversation], keys: KeyLog | None) -> dict[str, list[Finding]]:
    """The findings of every OTA check that judges against the campaign read from the wire."""
    seen = evidence(conversations, _update().records, keys=keys)
    return {
        "notice": check_notice(seen, policy(), campaign_id=C),
        "identification": check_software_identification(seen, policy(), trust_anchor=public_key_pem(SIGNER).decode()),
        "performance": check_performance_disclosure(seen, policy()),
        "safe state": check_safe_state(seen, policy()),
    }


def test_campaign_and_package_are_read_from_decrypted_tls(sessions) -> None:  # type: ignore[no-untyped-def]
    conversations, keys = sessions
    seen = evidence(conversations, keys=keys)
    exchanges = http_exchanges(seen.flows)
    assert [(e.method, e.path, e.status) for e in exchanges] == [
        ("GET", "/ota/v1/campaigns", 200), ("GET", CAMPAIGN.package_url, 200)]
    assert {(e.server, e.server_name) for e in exchanges} == {("203.0.113.30:443", OTA_NAME)}
    assert exchanges[1].body == CAMPAIGN.package
    served = served_campaigns(exchanges, opaque_sessions(seen.flows))
    assert list(served.campaigns) == [C] and not served.opaque and not served.hidden
    judged = {check: verdicts(found) for check, found in _judge_all(conversations, keys).items()}
    assert judged["notice"] == ["pass"] and judged["safe state"] == ["pass"], judged
    assert judged["performance"] == ["pass"], judged
    assert judged["identification"] == ["inconclusive", "pass"], judged  # no UDS read in this evidence


def test_without_the_ota_sessions_secrets_the_campaign_verdicts_are_inconclusive(sessions) -> None:  # type: ignore[no-untyped-def]
    conversations, keys = sessions
    others = parse_keylog(f"CLIENT_RANDOM {'11' * 32} {'22' * 48}\n")  # another session's secret only
    for log, why in ((None, "no key log given"), (others, "the key log holds no secret for this session")):
        for check, found in _judge_all(conversations, log).items():
            assert "pass" not in verdicts(found), (check, found)
            assert overall(found) is Verdict.INCONCLUSIVE, (check, found)
        findings = check_notice(evidence(conversations, _update().records, keys=log), policy(), campaign_id=C)
        assert [f.verdict.value for f in findings] == ["inconclusive"]
        assert f"TLS to {OTA_NAME} (203.0.113.30:443): {why}" in findings[0].detail
        assert "\n" not in findings[0].detail


def test_an_unread_session_with_the_backend_makes_a_pass_inconclusive(sessions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The campaign list is read, but a later session with the same backend is not: it may have
    described the campaign otherwise, so nothing judged against the campaign may pass."""
    conversations, keys = sessions
    unlogged = Tls.made_in(tmp_path, keylog=False)
    later = campaign_list(unlogged, 30, [CAMPAIGN.metadata(SIGNER)], sport=43000)
    for check, found in _judge_all([*conversations, later], keys).items():
        assert overall(found) is Verdict.INCONCLUSIVE, (check, found)
        if check != "identification":  # already inconclusive: no UDS read in this evidence
            assert "1 TLS session with the OTA backend could not be read" in found[-1].detail, found


def test_a_handshake_that_fails_leaves_the_notice_inconclusive_with_the_reason(tmp_path: Path) -> None:
    """The vehicle trusts another CA than the backend's: no application data, nothing to judge."""
    tls = Tls.made_in(tmp_path)
    stranger = RigCa(tmp_path / "other")
    tls.vehicle.joinpath("ca.pem").write_bytes(stranger.ca_file.read_bytes())
    refused = tls.connect(5, 41000)
    assert refused.failed and "CERTIFICATE_VERIFY_FAILED" in refused.failed
    findings = check_notice(evidence([refused], _update().records, keys=None), policy(), campaign_id=C)
    assert verdicts(findings) == ["inconclusive"]
    assert f"TLS to {OTA_NAME} (203.0.113.30:443): handshake without application data" in findings[0].detail


def test_a_bench_backend_at_its_own_address_port_and_name_reads_the_same(tmp_path: Path) -> None:
    """Nothing about the virtual rig's endpoint is assumed: a bench ECU's OTA over HTTPS on 8443 to
    another name and address, with the key log the bench fetched, judges as the virtual rig's does."""
    tls = Tls.made_in(tmp_path)
    server, name = ("203.0.113.99", 8443), "fota.maker.example.cn"
    served = [campaign_list(tls, 5, [CAMPAIGN.metadata(SIGNER)], server=server, name=name),
              package_download(tls, 22, CAMPAIGN, server=server, name=name)]
    assert tls.keylog is not None
    seen = evidence(served, _update().records, keys=load_keylog(tls.keylog))
    assert {(e.server, e.server_name) for e in http_exchanges(seen.flows)} == {
        ("203.0.113.99:8443", "fota.maker.example.cn")}
    assert verdicts(check_notice(seen, policy(), campaign_id=C)) == ["pass"]
    assert verdicts(check_performance_disclosure(seen, policy())) == ["pass"]
