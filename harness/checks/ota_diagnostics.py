"""Diagnostic session safety: a UDS programming session (0x10 0x02) requested while the vehicle is
not stationary (the profile's standstill speed) in park with the parking brake applied is refused
with NRC 0x22 conditionsNotCorrect, over ISO-TP and over DoIP.

The requests and answers are read from the evidence (ISO-TP reassembled from the CAN recording,
DoIP from the IP capture); the vehicle's state at each request from its own CAN messages. The
vehicle states a test promises to ask in are confirmed per transport, or the verdict is inconclusive."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.checks.ota_situations import parse_situations, unseen
from harness.checks.ota_timeline import VehicleTimeline, describe_vehicle, doubt_lost_frames
from harness.checks.registry import register
from harness.diag.transcript import UdsExchange, doip_exchanges, isotp_exchanges
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.policy.policy import Policy

CHECK = "ota-diagnostic-session"
PROGRAMMING_REQUEST = bytes([0x10, 0x02])
CONDITIONS_NOT_CORRECT = 0x22
NEEDED = ("vehicle.speed_kph", "vehicle.gear", "vehicle.parking_brake")


def failures(state: dict[str, Any], standstill_kph: float) -> list[str] | None:
    """Why programming may not start in `state` (empty: it may), or None when it was not on CAN."""
    if any(name not in state for name in NEEDED):
        return None
    failed = []
    if float(state["vehicle.speed_kph"]) >= standstill_kph:
        failed.append("moving")
    if state["vehicle.gear"] != "P":
        failed.append(f"in gear {state['vehicle.gear']}")
    if state["vehicle.parking_brake"] != "Applied":
        failed.append(f"parking brake {state['vehicle.parking_brake']}")
    return failed


@register(CHECK)
def check_programming_session(evidence: Evidence, policy: Policy, *, transports: list[str],
                              can_request_id: int | None = None, can_response_id: int | None = None,
                              situations: dict[str, dict[str, Any]] | None = None,
                              rule_id: str = "ota.diagnostic-session-safety") -> list[Finding]:
    """`transports`: where a refused request must have been observed ("isotp", "doip"); `situations`:
    the vehicle states the test promises a programming request in, on every transport."""
    rule = policy.profile.rule(rule_id)
    clause = rule.primary
    standstill = rule.limit("standstill_kph")
    promised = parse_situations(situations)
    seen: set[str] = set()
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
        failed = failures(state, standstill)
        where: dict[str, Any] = dict(src=exchange.where, protocol=exchange.transport, time=exchange.time)
        if exchange.response is not None:
            seen.update(f"{exchange.transport}: {s.name}" for s in promised if s.holds(state))
        if failed is None:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                    "programming session requested; the vehicle's motion was not on CAN", **where))
            continue
        if not failed:
            answer = "granted" if exchange.positive else "refused" if exchange.response else "unanswered"
            findings.append(Finding(CHECK, Verdict.PASS, clause, (
                f"{exchange.transport}: programming session {answer} while stationary in park "
                f"({describe_vehicle(state)}); no safety condition applies"), **where))
            continue
        judged.add(exchange.transport)
        findings.append(_while_unsafe(exchange, state, failed, clause, where))
    for transport in transports:
        if transport not in judged:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
                f"{transport}: no programming-session request outside a safe state was observed"),
                protocol=transport))
        findings += [replace(f, protocol=transport) for f in unseen(
            CHECK, clause, [replace(s, name=f"{transport}: {s.name}") for s in promised], seen,
            "no programming session was requested and answered in it")]
    doubt_lost_frames(findings, evidence, CHECK, clause, ("vehicle.speed_kph",),
                      "the vehicle state is uncertain")
    return findings


def _while_unsafe(exchange: UdsExchange, state: dict[str, Any], failed: list[str], clause: str,
                  where: dict[str, Any]) -> Finding:
    situation = f"while {', '.join(failed)} ({describe_vehicle(state)})"
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
