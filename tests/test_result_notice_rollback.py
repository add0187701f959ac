"""The result notice tells the owner what happened: a rollback only after an installation began,
since a download that failed left nothing to roll back."""

from __future__ import annotations

from harness.checks.ota_outcome import check_result_notice
from harness.scenarios.campaign import example_campaign
from tests.ota_evidence import PARKED, OtaBus
from tests.synthetic_evidence import evidence, policy, verdicts

C = example_campaign(4801, duration_min=20).campaign_id


def _update(steps: tuple[tuple[float, str], ...], end: str, result: str, reason: str) -> OtaBus:
    bus = OtaBus().vehicle(0, PARKED).answer(20, C, "Accept")
    for t, state in ((0.0, "Idle"), (10.0, "AwaitingConsent"), (21.0, "Downloading"), *steps):
        bus.status(t, state, C if t else 0)
    return bus.status(steps[-1][0] + 10.0, end, C, result=result, reason=reason)


def _download_fails(result: str) -> OtaBus:
    return _update(((31.0, "Downloading"),), "Failed", result, "NetworkLost")


def _installation_fails(result: str) -> OtaBus:
    steps = ((31.0, "WaitingSafeState"), (41.0, "Installing"), (51.0, "Installing"))
    return _update(steps, "RolledBack", result, "PowerLoss")


def test_a_failed_download_told_as_failed_passes() -> None:
    assert verdicts(check_result_notice(evidence([], _download_fails("Failed").records), policy())) == ["pass"]


def test_a_failed_download_told_as_rolled_back_fails() -> None:
    findings = check_result_notice(evidence([], _download_fails("FailedRolledBack").records), policy())
    assert verdicts(findings) == ["fail"] and "nothing was rolled back" in findings[0].detail


def test_an_interrupted_installation_told_as_rolled_back_passes() -> None:
    bus = _installation_fails("FailedRolledBack")
    assert verdicts(check_result_notice(evidence([], bus.records), policy())) == ["pass"]
