"""CAN bus health during a test: a silent bus, a silent ECU, error frames or a bus-off mean the
test did not observe the vehicle it judged, so its verdict cannot be pass.

The plugin runs this beside every test's own checks (and records it, so replay runs it too); it
returns nothing when the bus was healthy."""

from __future__ import annotations

from collections import Counter

from harness.checks.registry import register
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.policy.policy import Policy

CHECK = "can-bus"
# an ECU that misses this many of its cycles at the end of the recording has stopped sending
SILENT_CYCLES = 10
SILENT_MIN_S = 2.0


@register(CHECK)
def check_can_bus(evidence: Evidence, policy: Policy, *, rule_id: str) -> list[Finding]:
    clause = policy.profile.rule(rule_id).primary
    frames = evidence.can_frames - len(evidence.can_errors)
    if frames <= 0:
        return [Finding(CHECK, Verdict.ERROR, clause, (
            "no CAN frame was recorded during the test: the harness is not connected to the bus, or the bus is "
            "down; nothing the test judged was observed on the vehicle"), protocol="can")]
    findings = _errors(evidence, clause)
    if evidence.ecu_expected and not evidence.ecu_activity:
        findings.append(Finding(CHECK, Verdict.ERROR, clause, (
            f"the ECU under test sent none of its messages ({', '.join(evidence.ecu_expected[:4])}"
            f"{', ...' if len(evidence.ecu_expected) > 4 else ''}) on CAN during the test: it is off, not "
            "connected, or not the node the signal mapping names"), protocol="can"))
    else:
        findings += _went_silent(evidence, clause)
    return findings


def _errors(evidence: Evidence, clause: str) -> list[Finding]:
    if not evidence.can_errors:
        return []
    bus_off = next((e for e in evidence.can_errors if e.bus_off), None)
    if bus_off is not None:
        return [Finding(CHECK, Verdict.ERROR, clause, (
            "the CAN bus went bus-off during the test: the ECU and the harness stopped exchanging frames, so the "
            "test did not observe what it judged"), protocol="can", time=bus_off.time)]
    kinds = Counter(e.describe() for e in evidence.can_errors)
    summary = ", ".join(f"{n} x {kind}" for kind, n in sorted(kinds.items()))
    return [Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
        f"{len(evidence.can_errors)} CAN error frames during the test ({summary}): frames may have been lost, "
        "so the recording may not show everything the ECU did"), protocol="can", time=evidence.can_errors[0].time)]


def _went_silent(evidence: Evidence, clause: str) -> list[Finding]:
    """The ECU stopped sending before the recording ended (reset, power or cable lost); one message
    stopping is the ECU's behaviour for a check to judge, all of them is the bench."""
    if not evidence.can or not evidence.ecu_activity:
        return []
    end = evidence.can[-1].time
    last = max(a.last for a in evidence.ecu_activity.values())
    fastest = min((a.cycle_s for a in evidence.ecu_activity.values() if a.cycle_s > 0), default=0.0)
    if end - last <= max(SILENT_CYCLES * fastest, SILENT_MIN_S):
        return []
    return [Finding(CHECK, Verdict.ERROR, clause, (
        f"the ECU under test stopped sending on CAN {end - last:.1f} s before the recording ended: "
        "what followed was not observed"), protocol="can", time=last)]
