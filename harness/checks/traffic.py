"""What the vehicle sent, as the minimization checks read it: each flow between the vehicle and
elsewhere with what the vehicle sent in it decoded, the destination's names and region, plus the
completeness findings every check starts from.

Destinations are attributed exactly as the locality check does it, so the two never disagree."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.checks.locality import destination_names, vehicle_sides
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.net.flows import Direction, Endpoint, Flow
from harness.net.payloads import FlowPayload, describe
from harness.policy.netmap import UNKNOWN_REGION, Netmap, Purpose


@dataclass(frozen=True)
class Sent:
    """One flow between the vehicle and a destination: where it went and what the vehicle sent."""

    flow: Flow
    from_client: bool  # the vehicle opened the flow (usual) or accepted it
    payload: FlowPayload
    names: tuple[str, ...]
    region: str

    @property
    def vehicle(self) -> Endpoint:
        return self.flow.client if self.from_client else self.flow.server

    @property
    def remote(self) -> Endpoint:
        return self.flow.server if self.from_client else self.flow.client

    @property
    def address(self) -> str:
        return self.remote.address

    @property
    def outgoing(self) -> Direction:
        """The direction of the flow the vehicle sent."""
        return self.flow.direction(self.from_client)

    def where(self, categories: Iterable[str] | None = None, time: float | None = None) -> dict[str, Any]:
        """The Finding fields that locate this flow."""
        return dict(src=str(self.vehicle), dst=str(self.remote), region=self.region,
                    protocol=self.payload.protocol,
                    categories=tuple(sorted(self.payload.categories if categories is None else categories)),
                    time=self.flow.first_time if time is None else time)


def vehicle_traffic(evidence: Evidence, netmap: Netmap) -> list[Sent]:
    """Every flow between the vehicle and elsewhere, oldest first, with what the vehicle sent decoded."""
    sent = []
    for flow, from_client in sorted(vehicle_sides(evidence, netmap), key=lambda item: item[0].first_time):
        remote = flow.server if from_client else flow.client
        names = destination_names(evidence, flow, from_client, remote)
        region = netmap.address_region(remote.address) or netmap.name_region(names) or UNKNOWN_REGION
        sent.append(Sent(flow, from_client, describe(flow, from_client), names, region))
    return sent


def purposes_for(netmap: Netmap, sent: Sent) -> list[Purpose]:
    return netmap.purposes_of(sent.address, sent.names)


def completeness(evidence: Evidence, check: str, clause: str) -> list[Finding]:
    """An incomplete capture cannot show that something was not sent: inconclusive."""
    return [Finding(check, Verdict.INCONCLUSIVE, clause, f"capture incomplete: {problem}")
            for problem in evidence.completeness_problems()]


def nothing_captured(sent: list[Sent], check: str, clause: str) -> Finding | None:
    if sent:
        return None
    return Finding(check, Verdict.INCONCLUSIVE, clause, "no traffic from the vehicle was captured; nothing to judge")
