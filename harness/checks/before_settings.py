"""The time after the ECU came up and before the owner's settings reached it: from the ECU's first
CAN frame, in a recording that shows the ECU starting, until a switch's first frame on the bus.

A node that boots late (the HMI carrying the switches) leaves the ECU running without them; what
it does then is judged like a switch at its default. Whether the recording shows that time at all,
and long enough to tell, is read from the recording alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness.checks.ota_situations import Situation, seen_at, unseen
from harness.checks.timeline import recording_start
from harness.findings import Finding
from harness.net.evidence import Evidence

# an ECU already running when the recording began sends its fastest cyclic message within one cycle:
# this many of its cycles (and at least STARTED_MIN_S) of silence first show it came up afterwards
STARTED_CYCLES = 5
STARTED_MIN_S = 0.5


@dataclass(frozen=True)
class EcuStart:
    """When the ECU's first CAN frame came (`time`), or why the recording does not show it start."""

    time: float | None
    why_not: str = ""


@dataclass(frozen=True)
class Unset:
    """`signal` had not been on the bus from the ECU's start up to `until` (its first frame, or the
    recording's end when `appeared` is False)."""

    signal: str
    start: float
    until: float
    appeared: bool


def ecu_start(evidence: Evidence) -> EcuStart:
    activity = evidence.ecu_activity
    if not activity:
        return EcuStart(None, "the ECU under test sent none of its cyclic CAN messages")
    first = min(a.first for a in activity.values())
    fastest = min((a.cycle_s for a in activity.values() if a.cycle_s > 0), default=0.0)
    quiet = first - recording_start(evidence)
    needed = max(STARTED_CYCLES * fastest, STARTED_MIN_S)
    if quiet < needed:
        return EcuStart(None, (
            f"the ECU's first CAN frame came {quiet:.2f} s after the recording began, less than the {needed:.2f} s "
            "that show it was not already running: the recording does not show the ECU start"))
    return EcuStart(first)


def unset(evidence: Evidence, signal: str, start: EcuStart, end: float) -> Unset | str:
    """The time `signal` had not reached the ECU since its start, or why the recording does not show one."""
    if start.time is None:
        return start.why_not
    first = next((r.time for r in evidence.can if signal in r.values), None)
    if first is not None and first <= start.time:
        return f"{signal} was on the bus before the ECU's first frame, so the ECU may have received it as it came up"
    return Unset(signal, start.time, end if first is None else first, first is not None)


def unshown(evidence: Evidence, promised: Sequence[Situation], windows: Sequence[Unset | str],
            waits: dict[str, float | None], activity: Sequence[float], check: str, clause: str) -> list[Finding]:
    """Inconclusive for each promised situation the recording does not show the vehicle in without
    its settings: the ECU's start and every judged switch's absence shown, the vehicle seen sending
    while the situation held then, and for long enough that a vehicle sending the switches'
    categories at the pace it did once allowed (`waits`, per switch) would have sent them then."""
    if not promised:
        return []
    problems = [w for w in windows if isinstance(w, str)]
    if problems:
        return unseen(check, clause, promised, set(), problems[0])
    shown = [w for w in windows if isinstance(w, Unset)]
    if not shown:
        return unseen(check, clause, promised, set(), "no switch whose absence could be judged")
    start, until = shown[0].start, min(w.until for w in shown)
    clock = evidence.clock
    lasted = clock.seconds(start, until)
    for signal, wait in sorted(waits.items()):
        if wait is None:
            return unseen(check, clause, promised, set(), (
                f"what {signal} governs never left the vehicle once the owner allowed it, so the recording does "
                "not show the vehicle in a state in which it would send it"))
        if lasted < wait:
            return unseen(check, clause, promised, set(), (
                f"the vehicle ran {lasted:.1f} s (vehicle time) without its settings, less than the {wait:.1f} s "
                f"it went without sending what {signal} governs once allowed"))
    seen = seen_at(evidence.can, promised, (t for t in activity if start <= t < until))
    return unseen(check, clause, promised, seen, (
        f"the vehicle sent nothing while it held in the {lasted:.1f} s (vehicle time) between the ECU's start and "
        "its settings' first frame on the bus, so what it keeps in the vehicle then was not observed"))
