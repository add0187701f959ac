"""Data minimization by declared purpose: every destination that receives categorised data needs
a declared purpose covering those categories.

An approved export's categories count as its destination's purpose. Cabin imagery, biometrics and
audio (the profile's consent-required categories) fail unless a purpose declares them, and the
finding says so. Undecodable payload is `inconclusive`: what it carries is unknown. A flow that
carries no category (DNS, a handshake) passes."""

from __future__ import annotations

from collections.abc import Sequence

from harness.checks.locality import exercised
from harness.checks.registry import register
from harness.checks.traffic import completeness, nothing_captured, purposes_for, vehicle_traffic
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.policy.policy import Policy

CHECK = "minimization"


@register("minimization")
def check_minimization(evidence: Evidence, policy: Policy, *, rule_id: str = "minimization.declared-purpose",
                       expect_sent: Sequence[str] = ()) -> list[Finding]:
    """`expect_sent`: categories the test made the vehicle send; a capture without them (name lookups
    alone, say) leaves the rule unexercised and the verdict inconclusive, as for locality."""
    profile, netmap = policy.profile, policy.netmap
    clause = profile.rule(rule_id).primary
    findings = completeness(evidence, CHECK, clause)
    sent = vehicle_traffic(evidence, netmap)
    empty = nothing_captured(sent, CHECK, clause)
    if empty is not None:
        return [*findings, empty]
    uncategorised = 0
    for flow in sent:
        payload = flow.payload
        if not payload.categories and payload.decodable:
            uncategorised += 1
            continue
        purposes = purposes_for(netmap, flow)
        declared = {c for p in purposes for c in p.categories}
        exported = {c for e in netmap.exports_to(flow.address, flow.names) for c in e.categories}
        covered = declared | exported  # an approved export declares its categories as a purpose too
        uncovered = payload.categories - covered
        names = ", ".join(sorted(p.name for p in purposes)) or "none"
        where = flow.where()
        if uncovered:
            sensitive = uncovered & profile.consent_required_categories
            why = (f"{', '.join(sorted(sensitive))} left the vehicle without a purpose declaring "
                   f"{'it' if len(sensitive) == 1 else 'them'}; " if sensitive else "")
            findings.append(Finding(CHECK, Verdict.FAIL, clause, (
                f"{why}{payload.categories_described(uncovered)} sent to {flow.address} ({payload.detail}) "
                f"beyond its declared purpose (purposes: {names}; declared {', '.join(sorted(covered)) or 'nothing'})"),
                **where))
        elif not payload.decodable:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
                f"payload to {flow.address} ({flow.region}) could not be decoded ({payload.detail}); "
                f"what it carries beyond {', '.join(sorted(payload.categories)) or 'nothing'} is unknown"), **where))
        else:
            findings.append(Finding(CHECK, Verdict.PASS, clause, (
                f"{', '.join(sorted(payload.categories))} to {flow.address} within its declared purpose "
                f"({names}; {payload.detail})"), **where))
    findings.append(Finding(CHECK, Verdict.PASS, clause,
                            f"{uncategorised} of {len(sent)} vehicle flows carried no data category"))
    if expect_sent:
        findings += exercised(evidence, [(s.flow, s.from_client) for s in sent], expect_sent, CHECK, clause)
    return findings
