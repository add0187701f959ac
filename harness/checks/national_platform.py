"""National monitoring platform scope: the GB/T 32960 platform receives what the standard requires
(a vehicle login, then real-time reports with the required information units) and nothing beyond
it: no command or information unit the standard does not define for a vehicle (custom units
0x80-0xFE included), and no other protocol to the platform's address (a JSON side channel).

The platform is every destination whose netmap purpose names the protocol; which commands and
units the standard defines comes from the GB/T 32960 decoder, which units a report must hold is
the test's parameter (they depend on the vehicle's powertrain)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from harness.checks.registry import register
from harness.checks.traffic import Sent, completeness, vehicle_traffic
from harness.findings import Finding, Verdict
from harness.net import gbt32960_frames
from harness.net.evidence import Evidence
from harness.net.gbt32960_frames import UNIT_TYPES
from harness.policy.policy import Policy

if TYPE_CHECKING:
    from harness.net.gbt32960 import DecodedFrame

CHECK = "national-platform-scope"
LOGIN, REALTIME, REISSUE = 0x01, 0x02, 0x03
VEHICLE_COMMANDS = frozenset({0x01, 0x02, 0x03, 0x04, 0x07, 0x08})  # what a vehicle sends on its own
COMMAND_FLAG = 0xFE  # a command, as opposed to the answer to the platform's query


@register("national-platform-scope")
def check_national_platform(evidence: Evidence, policy: Policy, *, protocol: str = "gbt32960",
                            required_units: Iterable[int] = (0x01, 0x05),
                            rule_id: str = "minimization.national-platform-scope") -> list[Finding]:
    netmap = policy.netmap
    clause = policy.profile.rule(rule_id).primary
    findings = completeness(evidence, CHECK, clause)
    platforms = [p for p in netmap.purposes if p.protocol == protocol]
    if not platforms:
        return [*findings, Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                   f"the netmap declares no purpose served by {protocol}; no platform to judge")]
    required = tuple(sorted(set(required_units)))
    to_platform = [s for s in vehicle_traffic(evidence, netmap)
                   if any(p.destination.matches(s.address, s.names) for p in platforms)]
    logins = reports = 0
    for sent in to_platform:
        if sent.payload.protocol != protocol:
            if sent.payload.messages or not sent.payload.decodable:
                findings.append(Finding(CHECK, Verdict.FAIL, clause, (
                    f"the platform at {sent.address} received {sent.payload.protocol} beside {protocol} "
                    f"({sent.payload.detail}): a side channel the standard does not define"), **sent.where()))
            continue
        flow_findings, flow_logins, flow_reports = _judge_stream(sent, required, clause)
        findings += flow_findings
        logins += flow_logins
        reports += flow_reports
    names = ", ".join(sorted({str(p.destination) for p in platforms}))
    if not to_platform or not reports:
        findings.append(Finding(CHECK, Verdict.FAIL, clause, (
            f"the platform ({names}) received {logins} vehicle logins and no real-time report during the recording")))
    elif not any(f.verdict is not Verdict.PASS for f in findings):
        findings.append(Finding(CHECK, Verdict.PASS, clause, (
            f"the platform ({names}) received {logins} vehicle logins and {reports} real-time reports, each with "
            f"the units {', '.join(UNIT_TYPES.get(u, hex(u)) for u in required)}, and nothing beyond the standard")))
    return findings


def _judge_stream(sent: Sent, required: tuple[int, ...], clause: str) -> tuple[list[Finding], int, int]:
    stream, missing, times = sent.outgoing.stream_with_times()
    offsets = [o for o, _ in times]

    def at(offset: int) -> float:
        return times[max(0, bisect.bisect_right(offsets, offset) - 1)][1] if times else sent.flow.first_time

    findings: list[Finding] = []
    logins = reports = 0
    logged_in = not sent.flow.handshake_seen  # a connection older than the capture may have logged in before
    from harness.net.gbt32960 import decode_frame  # scapy's dissection, only where this check runs

    for piece in gbt32960_frames.iter_frames(stream):
        when = at(piece.offset)
        if not piece.complete:
            continue
        frame = decode_frame(piece.raw, sent.flow.unit_keys)  # encrypted units are judged once opened
        where = sent.where((), when)
        if not frame.bcc_ok or frame.encrypted:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
                f"a {frame.command_name} to {sent.address} could not be read "
                f"({frame.error or 'encrypted'})"), **where))
            continue
        if frame.response_flag != COMMAND_FLAG:
            continue  # the vehicle answering a platform query: the platform asked for it
        if frame.command not in VEHICLE_COMMANDS:
            findings.append(Finding(CHECK, Verdict.FAIL, clause, (
                f"{frame.command_name} (0x{frame.command:02x}) sent to the platform at {sent.address}: "
                f"not a command the standard defines for a vehicle"), **where))
            continue
        if frame.command == LOGIN:
            logins += 1
            logged_in = True
            continue
        if frame.command not in (REALTIME, REISSUE):
            continue
        reports += 1
        if not logged_in:
            findings.append(Finding(CHECK, Verdict.FAIL, clause, (
                f"{frame.command_name} sent to {sent.address} before the vehicle logged in on the connection"),
                **where))
        findings += _judge_units(frame, sent, required, clause, where)
    if missing:
        findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
            f"{missing} bytes to {sent.address} are missing from the capture; what they held is unknown"),
            **sent.where()))
    return findings, logins, reports


def _judge_units(frame: DecodedFrame, sent: Sent, required: tuple[int, ...], clause: str,
                 where: dict[str, Any]) -> list[Finding]:
    findings = []
    extra = frame.undecoded[:1]
    if extra and extra[0] not in UNIT_TYPES:
        kind = "a custom" if 0x80 <= extra[0] <= 0xFE else "an undefined"
        findings.append(Finding(CHECK, Verdict.FAIL, clause, (
            f"{frame.command_name} to {sent.address} carries {kind} information unit 0x{extra[0]:02x} "
            f"({len(frame.undecoded)} bytes) beyond the units the standard defines"), **where))
    elif extra:
        findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
            f"{frame.command_name} to {sent.address}: the {UNIT_TYPES[extra[0]]} unit could not be decoded "
            f"({frame.error}); what follows it is unknown"), **where))
        return findings
    absent = [u for u in required if u not in frame.info_unit_types]
    if absent:
        findings.append(Finding(CHECK, Verdict.FAIL, clause, (
            f"{frame.command_name} to {sent.address} lacks the required "
            f"{', '.join(UNIT_TYPES.get(u, hex(u)) for u in absent)} unit"), **where))
    return findings
