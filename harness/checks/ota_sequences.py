"""The invariants of every OTA update sequence, judged together over one recording of many
campaigns: never installed without consent, never outside the safe state, always ending on a
working version, the owner always told the result.

The exploration that produced the recording hands over how it drove each campaign (its steps and
seed); they are quoted in a failing finding so the sequence can be replayed, never judged."""

from __future__ import annotations

import re
from dataclasses import replace

from harness.checks.ota import check_consent
from harness.checks.ota_outcome import check_result_notice, check_rollback
from harness.checks.ota_safety import check_safe_state
from harness.checks.ota_timeline import campaign_runs
from harness.checks.registry import register
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.policy.policy import Policy

CHECK = "ota-update-sequences"
_CAMPAIGN = re.compile(r"campaign (\d+)")


def invariant_findings(evidence: Evidence, policy: Policy, min_soc_pct: float | None = None) -> list[Finding]:
    """The four invariants' findings, each from its own check (and clause)."""
    return [
        *check_consent(evidence, policy, installation_expected=False),
        *check_safe_state(evidence, policy, installation_expected=False, min_soc_pct=min_soc_pct),
        *check_rollback(evidence, policy, interruption_expected=False),
        *check_result_notice(evidence, policy),
    ]


@register(CHECK)
def check_update_sequences(evidence: Evidence, policy: Policy, *, sequences: dict[str, list[str]],
                           seed: str = "") -> list[Finding]:
    """`sequences`: campaign id -> the exploration's steps that drove it (quoted in failures)."""
    findings = invariant_findings(evidence, policy)
    out: list[Finding] = []
    for finding in findings:
        match = _CAMPAIGN.search(finding.detail)
        steps = sequences.get(match.group(1)) if match else None
        if finding.verdict is not Verdict.PASS and steps:
            finding = replace(finding, detail=f"{finding.detail}; sequence (hypothesis seed {seed}): "
                                              + " -> ".join(steps))
        out.append(finding)
    explored = len(sequences)
    clause = policy.profile.rule("ota.consent").primary
    seen = {str(ident) for ident in campaign_runs(evidence)}
    unseen = sorted(set(sequences) - seen, key=int)
    if unseen:
        out.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
            f"{len(unseen)} of {explored} explored campaigns left no trace on CAN: {', '.join(unseen[:10])}"),
            protocol="can"))
    return out
