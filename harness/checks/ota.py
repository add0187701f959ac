"""OTA update consent: nothing is installed before the owner accepts the update on the screen.

Judged from the CAN recording alone: the vehicle's OTA status and drive-inhibit reason against
the owner's answers; lost frames in those messages make the verdict `inconclusive`."""

from __future__ import annotations

from typing import Any

from harness.checks.registry import register
from harness.findings import Finding, Verdict, doubt
from harness.net.evidence import CanRecord, Evidence
from harness.policy.policy import Policy

CHECK = "ota-consent"
INSTALL_STATES = frozenset({"Installing", "Activating", "Completed"})
STATUS, ACTION, INHIBIT = "ota.status.state", "ota.action.action", "ota.inhibit.reason"


@register("ota-consent")
def check_consent(evidence: Evidence, policy: Policy, *, installation_expected: bool,
                  rule_id: str = "ota.consent") -> list[Finding]:
    clause = policy.profile.rule(rule_id).primary
    status = [r for r in evidence.can if STATUS in r.values]
    actions = [r for r in evidence.can if ACTION in r.values]
    if not status:
        return [Finding(CHECK, Verdict.INCONCLUSIVE, clause, "the ECU sent no OTA status on CAN; nothing to judge",
                        protocol="can")]
    lost = {name: n for name, n in evidence.can_gaps.items() if name in {r.message for r in status + actions}}
    installs = _installation_starts(evidence.can)
    findings: list[Finding] = []
    for campaign, start in sorted(installs.items()):
        accepted = next((r for r in actions if r.values[ACTION] == "Accept"
                         and r.values.get("ota.action.campaign_id") == campaign), None)
        where: dict[str, Any] = dict(src=f"can:0x{start.arbitration_id:03X}", protocol="can", time=start.time)
        if accepted is not None and accepted.time <= start.time:
            findings.append(Finding(CHECK, Verdict.PASS, clause, (
                f"campaign {campaign}: installation began {evidence.vehicle_seconds(accepted.time, start.time):.0f} s "
                f"(vehicle time) after the owner accepted"), **where))
            continue
        verdict = Verdict.INCONCLUSIVE if lost else Verdict.FAIL
        when = ("the owner never accepted" if accepted is None else
                f"the owner accepted {evidence.vehicle_seconds(start.time, accepted.time):.0f} s (vehicle time) later")
        findings.append(Finding(CHECK, verdict, clause, (
            f"campaign {campaign}: installation began ({start.values.get(STATUS, start.values.get(INHIBIT))}) "
            f"before consent: {when}" + (f"; frames lost in {lost}" if lost else "")), **where))
    if not installs:
        if installation_expected:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                    "no installation was observed, so consent before installation is unconfirmed",
                                    protocol="can"))
        else:
            findings.append(Finding(CHECK, Verdict.PASS, clause, "no installation took place", protocol="can"))
    if lost:
        doubt(findings, CHECK, clause, f"CAN recording lost frames of {lost}; the order of events is not certain",
              "can")
    return findings


def _installation_starts(records: list[CanRecord]) -> dict[int, CanRecord]:
    """The first record per campaign showing installation (status or drive inhibit for OTA)."""
    starts: dict[int, CanRecord] = {}
    campaign = 0
    for record in records:
        if "ota.status.campaign_id" in record.values:
            campaign = int(record.values["ota.status.campaign_id"])
        installing = (record.values.get(STATUS) in INSTALL_STATES
                      or str(record.values.get(INHIBIT, "None")).startswith("Ota"))
        # campaign 0 is an installation outside any campaign the owner was offered: still an installation
        if installing and campaign not in starts:
            starts[campaign] = record
    return starts
