"""Environment data locality: road, building and other environment data from the vehicle's sensors
(the profile's environment categories, e.g. exterior imagery) stays inside the jurisdiction.

Where the profile makes environment data exportable (EU: Chapter V transfers), an approved export
covering it is enough; where it does not (CN: important data), no export covers it. Undecodable
payload to a foreign destination is `inconclusive`: it may carry environment data."""

from __future__ import annotations

from harness.checks.registry import register
from harness.checks.traffic import completeness, nothing_captured, vehicle_traffic
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.net.flows import unanswered_attempt
from harness.policy.policy import Policy

CHECK = "environment-locality"


@register("environment-locality")
def check_environment_locality(evidence: Evidence, policy: Policy, *,
                               rule_id: str = "locality.environment-data") -> list[Finding]:
    profile, netmap = policy.profile, policy.netmap
    clause = profile.rule(rule_id).primary
    findings = completeness(evidence, CHECK, clause)
    if not profile.environment_categories:
        return [*findings, Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                   f"profile {profile.name!r} names no environment data categories; nothing to judge")]
    sent = vehicle_traffic(evidence, netmap)
    empty = nothing_captured(sent, CHECK, clause)
    if empty is not None:
        return [*findings, empty]
    inside = ", ".join(sorted(profile.jurisdiction))
    domestic = carried = 0
    for flow in sent:
        environment = flow.payload.categories & profile.environment_categories
        if profile.inside(flow.region):
            domestic += 1
            carried += bool(environment)
            continue
        exports = netmap.exports_to(flow.address, flow.names)
        approved = {c for e in exports for c in e.categories} if profile.environment_exportable else set()
        uncovered = environment - approved
        if uncovered:
            appraisals = ", ".join(e.appraisal for e in exports if e.categories & uncovered)
            if profile.environment_exportable:
                why = " without an approved export covering it"
            else:
                why = (f"; profile {profile.name!r} allows no export of environment data"
                       + (f", whatever appraisal covers it ({appraisals})" if appraisals else ""))
            findings.append(Finding(CHECK, Verdict.FAIL, clause, (
                f"{', '.join(sorted(uncovered))} sent to {flow.region} at {flow.address} "
                f"({flow.payload.detail}){why}"), **flow.where()))
        elif not flow.payload.decodable:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
                f"payload to {flow.region} at {flow.address} could not be decoded ({flow.payload.detail}); "
                f"it may carry environment data"), **flow.where()))
        elif not flow.payload.messages and (attempt := unanswered_attempt(flow.flow, flow.from_client)):
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
                f"the vehicle tried to send something to {flow.region} at {flow.address}, but the connection "
                f"carried nothing ({attempt}); it may have been environment data"), **flow.where()))
        elif environment:
            findings.append(Finding(CHECK, Verdict.PASS, clause, (
                f"{', '.join(sorted(environment))} to {flow.region} at {flow.address} covered by an approved export "
                f"({', '.join(e.appraisal for e in exports)})"), **flow.where()))
    findings.append(Finding(CHECK, Verdict.PASS, clause, (
        f"{domestic} of {len(sent)} vehicle flows stay inside {inside}, {carried} of them with "
        f"{', '.join(sorted(profile.environment_categories))}")))
    if not any(flow.payload.categories & profile.environment_categories for flow in sent):
        findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
            f"the vehicle sent no {', '.join(sorted(profile.environment_categories))} anywhere during the test, "
            "so where environment data goes was not exercised")))
    return findings
