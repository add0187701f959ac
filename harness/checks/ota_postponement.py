"""OTA consent, the owner's postponement: an update the owner postponed by N minutes is not put to
the owner again before those N minutes of vehicle time have passed.

Judged from the CAN recording alone: the owner's Postpone presses (campaign and minutes), the moment
the ECU acted on each (its status left the question) and the moment it asked again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.checks.ota import ACTION, STATUS
from harness.checks.registry import register
from harness.findings import Finding, Verdict, doubt
from harness.net.evidence import CanRecord, Evidence
from harness.policy.policy import Policy

CHECK = "ota-postponement"
ASKING = "AwaitingConsent"
# float rounding of the clock's milliseconds: anything earlier is not the postponement the owner chose
CLOCK_TOLERANCE = 1e-6


@dataclass(frozen=True)
class Press:
    """The owner pressing Postpone: its first frame, the campaign and the minutes chosen."""

    record: CanRecord
    campaign: int
    minutes: float


def presses(records: list[CanRecord]) -> list[Press]:
    """Each Postpone press once (a button held over several frames is one press)."""
    found: list[Press] = []
    held = False
    for record in records:
        if ACTION not in record.values:
            continue
        pressing = record.values[ACTION] == "Postpone"
        if pressing and not held:
            found.append(Press(record, int(record.values.get("ota.action.campaign_id", 0)),
                               float(record.values.get("ota.action.postpone_min", 0))))
        held = pressing
    return found


@register("ota-postponement")
def check_postponement(evidence: Evidence, policy: Policy, *, rule_id: str = "ota.consent") -> list[Finding]:
    clause = policy.profile.rule(rule_id).primary
    status = [r for r in evidence.can if STATUS in r.values]
    postponed = presses(evidence.can)
    if not postponed:
        return [Finding(CHECK, Verdict.INCONCLUSIVE, clause, "the owner never postponed an update, so whether "
                        "the vehicle waits as long as the owner chose was not exercised", protocol="can")]
    if not status:
        return [Finding(CHECK, Verdict.INCONCLUSIVE, clause, "the ECU sent no OTA status on CAN; nothing to judge",
                        protocol="can")]
    findings = [_judge(press, status, evidence, clause) for press in postponed]
    lost = {name: n for name, n in evidence.can_gaps.items() if name in {r.message for r in status}}
    if lost:
        doubt(findings, CHECK, clause, f"CAN recording lost OTA status frames {lost}; when the owner was asked "
              "again is not certain", "can")
    return findings


def _judge(press: Press, status: list[CanRecord], evidence: Evidence, clause: str) -> Finding:
    mine = [r for r in status if r.time > press.record.time
            and int(r.values.get("ota.status.campaign_id", press.campaign)) == press.campaign]
    where: dict[str, Any] = dict(src=f"can:0x{press.record.arbitration_id:03X}", protocol="can",
                                 time=press.record.time)
    chosen = f"the owner postponed campaign {press.campaign} by {press.minutes:.0f} min"
    left = next((r for r in mine if r.values[STATUS] != ASKING), None)
    if left is None:
        return Finding(CHECK, Verdict.FAIL, clause, f"{chosen}, and the vehicle kept asking: its status never left "
                       f"{ASKING}", **where)
    again = next((r for r in mine if r.time > left.time and r.values[STATUS] == ASKING), None)
    if again is None:
        waited = evidence.vehicle_seconds(left.time, mine[-1].time) / 60.0
        return Finding(CHECK, Verdict.PASS, clause, f"{chosen}; not asked again in the {waited:.0f} min "
                       "(vehicle time) recorded after it", **where)
    waited = _waited(evidence, press.record.time, again.time) / 60.0
    verdict = Verdict.FAIL if waited < press.minutes * (1.0 - CLOCK_TOLERANCE) else Verdict.PASS
    return Finding(CHECK, verdict, clause, f"{chosen}; asked again {waited:.1f} min (vehicle time) after the press",
                   **{**where, "time": again.time})


def _waited(evidence: Evidence, pressed: float, asked: float) -> float:
    """Vehicle seconds from the press to the ECU asking again, as the ECU could count them: from the
    last clock frame before the press (the ECU had it when it acted on the press, which came after it
    on the same bus) to the last clock frame before it asked again (it cannot have had a later one).
    Not interpolated: across a jump of the clock that runs ahead of every node. Without a clock on
    CAN, capture time."""
    clock = evidence.clock
    start, end = clock.read(pressed), clock.read(asked)
    if start is None or end is None:
        return evidence.vehicle_seconds(pressed, asked)
    return end - start
