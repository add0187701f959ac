"""OTA safety before an update: installation starts only in a safe state (stationary, in park, parking
brake applied, the campaign's minimum charge or a share of it while charging, a supply above the
undervoltage threshold), and while it waits the owner is told the right reason.

Judged from the CAN recording: the vehicle's own messages say what state it was in when the ECU's
OtaStatus showed the installation begin, or showed it waiting; the limits come from the profile."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.checks.ota_situations import Situation, parse_situations, unseen
from harness.checks.ota_timeline import (
    CAMPAIGN,
    REASON,
    STATE,
    VehicleTimeline,
    campaign_runs,
    describe_vehicle,
    doubt_lost_frames,
    status_records,
)
from harness.checks.registry import register
from harness.findings import Finding, Verdict, doubt
from harness.net.evidence import CanRecord, Evidence
from harness.net.ota_wire import http_exchanges, opaque_sessions, served_campaigns
from harness.policy.policy import Policy

SAFE_STATE = "ota-safe-state"
CHARGING = ("ChargingAC", "ChargingDC")
MOTION = ("speed", "gear", "parking brake")          # a failed motion condition is told as UnsafeState
REASONS = {"speed": "UnsafeState", "gear": "UnsafeState", "parking brake": "UnsafeState",
           "charge": "LowEnergy", "supply": "LowEnergy"}
NEEDED = ("vehicle.speed_kph", "vehicle.gear", "vehicle.parking_brake", "battery.soc_pct",
          "battery.charging_state", "battery.lv_voltage")


@dataclass(frozen=True)
class SafeStateRule:
    """The safe-state rule with the profile's limits and a campaign's minimum state of charge."""

    standstill_kph: float
    min_supply_v: float
    charging_soc_share: float
    min_soc_pct: float

    @classmethod
    def of(cls, policy: Policy, rule_id: str, min_soc_pct: float) -> SafeStateRule:
        rule = policy.profile.rule(rule_id)
        return cls(rule.limit("standstill_kph"), rule.limit("min_supply_v"), rule.limit("charging_soc_share"),
                   min_soc_pct)

    def failures(self, state: Mapping[str, Any]) -> dict[str, str]:
        """The conditions the state fails, each with what the owner would see (empty: safe)."""
        failed: dict[str, str] = {}
        speed = float(state["vehicle.speed_kph"])
        if speed >= self.standstill_kph:
            failed["speed"] = f"moving at {speed:.1f} km/h"
        if state["vehicle.gear"] != "P":
            failed["gear"] = f"in gear {state['vehicle.gear']}"
        if state["vehicle.parking_brake"] != "Applied":
            failed["parking brake"] = f"parking brake {state['vehicle.parking_brake']}"
        soc, charging = float(state["battery.soc_pct"]), state["battery.charging_state"] in CHARGING
        needed = self.min_soc_pct * self.charging_soc_share if charging else self.min_soc_pct
        if soc < needed:
            failed["charge"] = (f"SOC {soc:.1f} % below {needed:.1f} % ("
                                + (f"{self.charging_soc_share:.0%} of the campaign's {self.min_soc_pct:.0f} % while "
                                   "charging)" if charging else "the campaign's minimum, not charging)"))
        volts = float(state["battery.lv_voltage"])
        if volts < self.min_supply_v:
            failed["supply"] = f"supply {volts:.1f} V below {self.min_supply_v:.1f} V"
        return failed


def unsafe(state: Mapping[str, Any], rule: SafeStateRule) -> list[str]:
    """Why the vehicle was not in a safe state to install (empty when it was)."""
    return list(rule.failures(state).values())


@register(SAFE_STATE)
def check_safe_state(evidence: Evidence, policy: Policy, *, installation_expected: bool = True,
                     situations: dict[str, dict[str, Any]] | None = None, min_soc_pct: float | None = None,
                     rule_id: str = "ota.safe-state") -> list[Finding]:
    """`situations`: the vehicle states the test promises the ECU decided in (waited in, with the
    reason the rule gives, or began installing in); one never seen makes the verdict inconclusive.
    (A run's hypothesis seed is quoted with every verdict but pass by the report.)"""
    clause = policy.profile.rule(rule_id).primary
    runs = campaign_runs(evidence)
    if not runs:
        return [Finding(SAFE_STATE, Verdict.INCONCLUSIVE, clause, "the ECU showed no OTA campaign on CAN",
                        protocol="can")]
    served = served_campaigns(http_exchanges(evidence.flows), opaque_sessions(evidence.flows)) \
        if min_soc_pct is None else None
    vehicle = VehicleTimeline(evidence.can)
    status = status_records(evidence)
    promised = parse_situations(situations)
    seen: set[str] = set()
    findings: list[Finding] = []
    for ident, run in sorted(runs.items()):
        threshold = min_soc_pct
        if threshold is None and served is not None and ident in served.campaigns:
            threshold = served.campaigns[ident].min_soc_pct
        rule = SafeStateRule.of(policy, rule_id, threshold) if threshold is not None else None
        start = run.install_start
        if rule is not None:
            findings += _deferrals(ident, status, start.time if start else float("inf"), vehicle, rule,
                                   clause, promised, seen)
        if start is None:
            continue
        where: dict[str, Any] = dict(src=f"can:0x{start.arbitration_id:03X}", protocol="can", time=start.time)
        state = vehicle.at(start.time)
        missing = [n for n in NEEDED if n not in state]
        if missing or rule is None:
            what = f"vehicle signals {missing}" if missing else "the campaign's minimum state of charge" + (
                served.unread_detail() if served is not None else "")
            findings.append(Finding(SAFE_STATE, Verdict.INCONCLUSIVE, clause,
                                    f"campaign {ident}: installation began but {what} could not be observed",
                                    **where))
            continue
        # the ECU decided in the cycle that showed the start, on a state it saw after it had shown the
        # status before: any state the vehicle held since then may be the one it decided on
        since = _previous(status, start)
        candidates = [vehicle.at(t) for t in (since, *vehicle.changes(), start.time) if since <= t <= start.time]
        safe = next((s for s in candidates if all(n in s for n in NEEDED) and not rule.failures(s)), None)
        if safe is None:
            findings.append(Finding(SAFE_STATE, Verdict.FAIL, clause, (
                f"campaign {ident}: installation began ({start.values.get(STATE)}) outside the "
                f"safe state: {', '.join(unsafe(state, rule))}"), **where))
            continue
        seen.update(s.name for s in promised if s.holds(safe))
        findings.append(Finding(SAFE_STATE, Verdict.PASS, clause, (
            f"campaign {ident}: installation began in a safe state ({describe_vehicle(safe)}, "
            f"supply {float(safe['battery.lv_voltage']):.1f} V)"), **where))
    if not any(run.install_start for run in runs.values()):
        verdict = Verdict.INCONCLUSIVE if installation_expected else Verdict.PASS
        findings.append(Finding(SAFE_STATE, verdict, clause, "no installation began" + (
            ", so the installation's preconditions were not exercised" if installation_expected else ""),
            protocol="can"))
    if hidden := served.hidden_note() if served is not None else "":
        doubt(findings, SAFE_STATE, clause, f"{hidden}: the campaign's minimum state of charge may differ from the "
              "one judged", "tls")
    findings += unseen(SAFE_STATE, clause, promised, seen,
                       "the ECU was never seen waiting (with the rule's reason) or beginning to install in it")
    doubt_lost_frames(findings, evidence, SAFE_STATE, clause,
                      ("ota.status.state", "vehicle.speed_kph", "battery.soc_pct"),
                      "the state at installation is uncertain")
    return findings


def _deferrals(ident: int, status: list[CanRecord], start: float, vehicle: VehicleTimeline, rule: SafeStateRule,
               clause: str, promised: list[Situation], seen: set[str]) -> list[Finding]:
    """While the vehicle was unsafe and the installation waited, the owner was told the rule's reason:
    UnsafeState for a motion condition, LowEnergy for charge or supply. A status frame is judged when
    the frame before it already showed the wait and the vehicle has not changed since: it shows a
    decision the ECU took on that state, in a cycle after it had seen it (however fast time ran)."""
    told: dict[str, int] = {}
    wrong: list[tuple[CanRecord, str, str]] = []
    for i, (before, record) in enumerate(zip(status, status[1:], strict=False)):
        if record.time >= start or not _waiting(record, ident):
            continue
        state = vehicle.at(record.time)
        if any(n not in state for n in NEEDED):
            continue
        failed = rule.failures(state)
        if not failed:
            continue
        allowed = {REASONS[c] for c in failed}
        reason = str(record.values.get(REASON, "None"))
        settled = _waiting(before, ident) and vehicle.at(before.time) == state
        # a reason that just changed to the one the rule gives for this state is the ECU's answer to
        # it, even before a second frame shows it settled (a short phase of fast-forwarded time)
        answered = reason in allowed and reason != before.values.get(REASON) and before.values.get(CAMPAIGN) == ident
        if not settled and not answered:
            continue
        if reason not in allowed:
            # a wrong reason counts once two frames before it already showed this state: one tick
            # can send its status twice (cyclic and answered) from inputs read before the change
            prior = status[i - 1] if i > 0 else None
            if settled and prior is not None and _waiting(prior, ident) and vehicle.at(prior.time) == state:
                wrong.append((record, reason, ", ".join(failed.values())))
            continue
        told[reason] = told.get(reason, 0) + 1
        seen.update(s.name for s in promised if s.holds(state))
    if wrong:
        record, reason, why = wrong[0]
        shown = "without telling the owner why" if reason == "None" else f"telling the owner {reason}"
        return [Finding(SAFE_STATE, Verdict.FAIL, clause, (
            f"campaign {ident}: the installation waited {shown} while {why} (in {len(wrong)} status frames)"),
            protocol="can", time=record.time)]
    if not told:
        return []
    return [Finding(SAFE_STATE, Verdict.PASS, clause, (
        f"campaign {ident}: installation deferred while unsafe, the owner told why "
        f"({', '.join(f'{r} in {n} frames' for r, n in sorted(told.items()))})"), protocol="can")]


def _waiting(record: CanRecord, ident: int) -> bool:
    return record.values.get(STATE) == "WaitingSafeState" and record.values.get(CAMPAIGN) == ident


def _previous(status: list[CanRecord], record: CanRecord) -> float:
    """When the status frame before `record` was sent (its start, for the first)."""
    earlier = [r.time for r in status if r.time < record.time]
    return earlier[-1] if earlier else record.time
