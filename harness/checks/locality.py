"""Data locality: regulated data must not reach a destination outside the jurisdiction unless an
approved export covers every category it carries.

A pure function of evidence, profile and netmap; undecodable payload to a foreign destination is
`inconclusive`, because what it carries is unknown."""

from __future__ import annotations

from typing import Any

from harness.checks.registry import register
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.net.payloads import describe
from harness.policy.policy import Policy

CHECK = "locality"


@register("locality")
def check_locality(evidence: Evidence, policy: Policy, *, rule_id: str = "locality.regulated-data") -> list[Finding]:
    profile, netmap = policy.profile, policy.netmap
    clause = profile.rule(rule_id).primary
    findings: list[Finding] = []
    vehicle_flows = [f for f in evidence.flows.flows.values() if netmap.is_vehicle(f.client.address)]
    for problem in evidence.completeness_problems():
        findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, f"capture incomplete: {problem}"))
    if not vehicle_flows:
        findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                "no traffic from the vehicle was captured; nothing to judge"))
        return findings
    domestic = 0
    for flow in sorted(vehicle_flows, key=lambda f: f.first_time):
        region = netmap.region_of(flow.server.address)
        if profile.inside(region):
            domestic += 1
            continue
        payload = describe(flow)
        base: dict[str, Any] = dict(src=str(flow.client), dst=str(flow.server), region=region,
                                    protocol=payload.protocol, categories=tuple(sorted(payload.categories)),
                                    time=flow.first_time)
        regulated = payload.categories & profile.regulated_categories
        approved: set[str] = set()
        for export in netmap.exports_to(flow.server.address):
            approved |= export.categories
        uncovered = regulated - approved
        if uncovered:
            findings.append(Finding(CHECK, Verdict.FAIL, clause, (
                f"{', '.join(sorted(uncovered))} sent to {region} ({payload.detail}) "
                f"without an approved export covering {'it' if len(uncovered) == 1 else 'them'}"), **base))
        elif not payload.decodable:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                    f"payload to {region} could not be decoded ({payload.detail})", **base))
        else:
            covered = f"; covered by approved export of {', '.join(sorted(regulated))}" if regulated else ""
            findings.append(Finding(CHECK, Verdict.PASS, clause,
                                    f"no uncovered regulated data to {region} ({payload.detail}){covered}", **base))
    findings.append(Finding(CHECK, Verdict.PASS, clause,
                            f"{domestic} of {len(vehicle_flows)} vehicle flows stay inside "
                            f"{', '.join(sorted(profile.jurisdiction))}"))
    return findings
