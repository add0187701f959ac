"""Diagnostic session safety: a UDS programming session (0x10 0x02) requested while the vehicle is
not stationary in park is refused with NRC 0x22 conditionsNotCorrect, over ISO-TP and over DoIP.

The requests and answers are read from the evidence (ISO-TP reassembled from the CAN recording,
DoIP from the IP capture); the vehicle's state at each request from its own CAN messages."""

from __future__ import annotations

from typing import Any

from harness.checks.ota_timeline import VehicleTimeline, describe_vehicle, losses
from harness.checks.registry import register
from harness.diag.transcript import UdsExchange, doip_exchanges, isotp_exchanges
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.policy.policy import Policy

CHECK = "ota-diagnostic-session"
PROGRAMMING_REQUEST = bytes([0x10, 0x02])
CONDITIONS_NOT_CORRECT = 0x22
STATIONARY_KPH = 0.5


def _driving(state: dict[str, Any]) -> bool | None:
    if "vehicle.speed_kph" not in state or "vehicle.gear" not in state:
        return None
    return float(state["vehicle.speed_kph"]) >= STATIONARY_KPH or state["vehicle.gear"] != "P"


@register(CHECK)
def check_programming_session(evidence: Evidence, policy: Policy, *, transports: list[str],
                              can_request_id: int | None = None, can_response_id: int | None = None,
                              rule_id: str = "ota.diagnostic-session-safety") -> list[Finding]:
    """`transports`: where a refused request must have been observed ("isotp", "doip")."""
    clause = policy.profile.rule(rule_id).primary
    exchanges: list[UdsExchange] = []
    if "doip" in transports:
        exchanges += doip_exchanges(evidence.flows)
    if "isotp" in transports:
        if can_request_id is None or can_response_id is None:
            return [Finding(CHECK, Verdict.ERROR, clause, "ISO-TP judged without the CAN request and response ids")]
        exchanges += isotp_exchanges(evidence.can, can_request_id, can_response_id)
    vehicle = VehicleTimeline(evidence.can)
    findings: list[Finding] = []
    judged: set[str] = set()
    for exchange in sorted(exchanges, key=lambda e: e.time):
        if exchange.request[:2] != PROGRAMMING_REQUEST:
            continue
        state = vehicle.at(exchange.time)
        driving = _driving(state)
        where: dict[str, Any] = dict(src=exchange.where, protocol=exchange.transport, time=exchange.time)
        if driving is None:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                    "programming session requested; the vehicle's motion was not on CAN", **where))
            continue
        if not driving:
            answer = "granted" if exchange.positive else "refused" if exchange.response else "unanswered"
            findings.append(Finding(CHECK, Verdict.PASS, clause, (
                f"{exchange.transport}: programming session {answer} while stationary in park "
                f"({describe_vehicle(state)}); no safety condition applies"), **where))
            continue
        judged.add(exchange.transport)
        findings.append(_while_driving(exchange, state, clause, where))
    for transport in transports:
        if transport not in judged:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
                f"{transport}: no programming-session request while driving was observed"), protocol=transport))
    lost = losses(evidence, ("vehicle.speed_kph",))
    if lost and all(f.verdict is Verdict.PASS for f in findings):
        findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                f"CAN recording lost frames of {lost}; the vehicle state is uncertain", protocol="can"))
    return findings


def _while_driving(exchange: UdsExchange, state: dict[str, Any], clause: str, where: dict[str, Any]) -> Finding:
    situation = f"while driving ({describe_vehicle(state)})"
    if exchange.response is None:
        return Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                       f"{exchange.transport}: programming session requested {situation}; the ECU never answered",
                       **where)
    if exchange.positive:
        return Finding(CHECK, Verdict.FAIL, clause, (
            f"{exchange.transport}: programming session granted {situation} (response "
            f"{exchange.response[:2].hex(' ')})"), **where)
    code = exchange.negative_code
    if code == CONDITIONS_NOT_CORRECT:
        return Finding(CHECK, Verdict.PASS, clause, (
            f"{exchange.transport}: programming session refused {situation} with NRC 0x22 conditionsNotCorrect"),
            **where)
    shown = f"NRC 0x{code:02X}" if code is not None else f"response {exchange.response.hex(' ')}"
    return Finding(CHECK, Verdict.FAIL, clause, (
        f"{exchange.transport}: programming session {situation} answered with {shown}, not NRC 0x22 "
        "conditionsNotCorrect"), **where)
