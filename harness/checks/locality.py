"""Data locality: regulated data must not reach a destination outside the jurisdiction unless approved
exports to that destination cover every regulated category it carries.

A pure function of evidence, profile and netmap. A destination's region comes from an address
mapping, else from the names the capture gives it (DNS answers, TLS SNI, HTTP Host). Undecodable
payload to a foreign destination is `inconclusive`, because what it carries is unknown."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from harness.checks.registry import register
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.net.flows import Endpoint, Flow, unanswered_attempt
from harness.net.payloads import describe
from harness.policy.netmap import UNKNOWN_REGION, Netmap
from harness.policy.policy import Policy

CHECK = "locality"


@register("locality")
def check_locality(evidence: Evidence, policy: Policy, *, rule_id: str = "locality.regulated-data",
                   expect_sent: Sequence[str] = ()) -> list[Finding]:
    """`expect_sent`: categories the test made the vehicle send (somewhere); one never seen leaves the
    rule unexercised for it, and the verdict inconclusive."""
    profile, netmap = policy.profile, policy.netmap
    clause = profile.rule(rule_id).primary
    findings = [Finding(CHECK, Verdict.INCONCLUSIVE, clause, f"capture incomplete: {problem}")
                for problem in evidence.completeness_problems()]
    sent = sorted(vehicle_sides(evidence, netmap), key=lambda item: item[0].first_time)
    if not sent:
        findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                "no traffic from the vehicle was captured; nothing to judge"))
        return findings
    domestic = 0
    for flow, from_client in sent:
        vehicle, remote = (flow.client, flow.server) if from_client else (flow.server, flow.client)
        region = netmap.address_region(remote.address)
        if region is not None and profile.inside(region):
            domestic += 1  # the address decides; the payload need not be decoded
            continue
        names = destination_names(evidence, flow, from_client, remote)
        region = region or netmap.name_region(names) or UNKNOWN_REGION
        if profile.inside(region):
            domestic += 1
            continue
        payload = describe(flow, from_client)
        base: dict[str, Any] = dict(src=str(vehicle), dst=str(remote), region=region, protocol=payload.protocol,
                                    categories=tuple(sorted(payload.categories)), time=flow.first_time)
        regulated = payload.categories & profile.regulated_categories
        approved: set[str] = set()
        for export in netmap.exports_to(remote.address, names):
            approved |= export.categories
        uncovered = regulated - approved
        where = region if region != UNKNOWN_REGION else "an unmapped destination"
        attempt = unanswered_attempt(flow, from_client) if not payload.messages else None
        if uncovered:
            findings.append(Finding(CHECK, Verdict.FAIL, clause, (
                f"{payload.categories_described(uncovered)} sent to {where} ({payload.detail}) "
                f"without an approved export covering {'it' if len(uncovered) == 1 else 'them'}"), **base))
        elif not payload.decodable:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                    f"payload to {where} could not be decoded ({payload.detail})", **base))
        elif attempt is not None:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
                f"the vehicle tried to send something to {where}, but the connection carried nothing ({attempt}); "
                "what it would have sent is unknown"), **base))
        else:
            covered = f"; covered by approved export of {', '.join(sorted(regulated))}" if regulated else ""
            findings.append(Finding(CHECK, Verdict.PASS, clause,
                                    f"no uncovered regulated data to {where} ({payload.detail}){covered}", **base))
    findings.append(Finding(CHECK, Verdict.PASS, clause,
                            f"{domestic} of {len(sent)} vehicle flows stay inside "
                            f"{', '.join(sorted(profile.jurisdiction))}"))
    findings += exercised(evidence, sent, expect_sent, CHECK, clause)
    return findings


def exercised(evidence: Evidence, sent: Sequence[tuple[Flow, bool]], expect_sent: Sequence[str], check: str,
              clause: str) -> list[Finding]:
    """Inconclusive findings for what the test meant to observe and the capture does not show: a
    vehicle that sent no payload at all (every connection refused, say), or categories it never sent."""
    payloads = [describe(flow, from_client) for flow, from_client in sent]
    # name look-ups, clock and address configuration are how a vehicle gets ready to send, not what it
    # sends: alone they exercise nothing
    if not any((p.messages or not p.decodable) and not p.infrastructure for p in payloads):
        return [Finding(check, Verdict.INCONCLUSIVE, clause, (
            f"none of the {len(sent)} vehicle flows carried payload: nothing the vehicle would send was observed"))]
    seen = set().union(*(p.categories for p in payloads))
    missing = sorted(set(expect_sent) - seen)
    if not missing:
        return []
    return [Finding(check, Verdict.INCONCLUSIVE, clause, (
        f"the vehicle never sent {', '.join(missing)} anywhere during the test, so where "
        f"{'it goes' if len(missing) == 1 else 'they go'} was not exercised"))]


def vehicle_sides(evidence: Evidence, netmap: Netmap) -> Iterator[tuple[Flow, bool]]:
    """(flow, True if the vehicle is its client) for every flow between the vehicle and elsewhere;
    the vehicle may have opened the flow or accepted it, and what it sent counts either way."""
    for flow in evidence.flows.flows.values():
        client, server = netmap.is_vehicle(flow.client.address), netmap.is_vehicle(flow.server.address)
        if client != server:
            yield flow, client


def destination_names(evidence: Evidence, flow: Flow, from_client: bool, remote: Endpoint) -> tuple[str, ...]:
    """The names the capture gives the remote end, for name mappings and approved exports by domain:
    DNS answers for its address, and the TLS SNI and HTTP Host of every flow opened to it (this one
    included when the vehicle opened it). Shared by the checks so they attribute destinations alike."""
    names = evidence.names_of(remote.address)
    if from_client:  # SNI and Host name the server: they count only when the remote end is the server
        names = tuple(sorted(set(names) | describe(flow, True).names))
    return names
