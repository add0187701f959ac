"""OTA safety while updating: installation starts only in a safe state (stationary, in park,
parking brake applied, enough energy or charging), and the vehicle cannot be driven while it runs.

Judged from the CAN recording: the vehicle's own messages say what state it was in when the
ECU's OtaStatus showed the installation begin; DriveInhibit says what the ECU requested, and why."""

from __future__ import annotations

import statistics
from typing import Any

from harness.checks.ota_timeline import (
    INSTALLING,
    VehicleTimeline,
    campaign_runs,
    describe_vehicle,
    losses,
)
from harness.checks.registry import register
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.net.ota_wire import http_exchanges, served_campaigns
from harness.policy.policy import Policy

SAFE_STATE, INHIBIT = "ota-safe-state", "ota-drive-inhibit"
STATIONARY_KPH = 0.5
CHARGING = ("ChargingAC", "ChargingDC")
DEFERRAL_REASONS = ("UnsafeState", "LowEnergy")


def unsafe(state: dict[str, Any], min_soc: float) -> list[str]:
    """Why the vehicle was not in a safe state to install (empty when it was)."""
    problems = []
    if float(state["vehicle.speed_kph"]) >= STATIONARY_KPH:
        problems.append(f"moving at {float(state['vehicle.speed_kph']):.0f} km/h")
    if state["vehicle.gear"] != "P":
        problems.append(f"in gear {state['vehicle.gear']}")
    if state["vehicle.parking_brake"] != "Applied":
        problems.append(f"parking brake {state['vehicle.parking_brake']}")
    if float(state["battery.soc_pct"]) < min_soc and state["battery.charging_state"] not in CHARGING:
        problems.append(f"SOC {float(state['battery.soc_pct']):.0f} % below the campaign's {min_soc:.0f} % "
                        "and not charging")
    return problems


@register(SAFE_STATE)
def check_safe_state(evidence: Evidence, policy: Policy, *, installation_expected: bool = True,
                     deferral_expected: bool = False, min_soc_pct: float | None = None,
                     rule_id: str = "ota.safe-state") -> list[Finding]:
    clause = policy.profile.rule(rule_id).primary
    runs = campaign_runs(evidence)
    if not runs:
        return [Finding(SAFE_STATE, Verdict.INCONCLUSIVE, clause, "the ECU showed no OTA campaign on CAN",
                        protocol="can")]
    served = served_campaigns(http_exchanges(evidence.flows)) if min_soc_pct is None else None
    vehicle = VehicleTimeline(evidence.can)
    needed = ("vehicle.speed_kph", "vehicle.gear", "vehicle.parking_brake", "battery.soc_pct",
              "battery.charging_state")
    findings: list[Finding] = []
    for ident, run in sorted(runs.items()):
        start = run.install_start
        if start is None:
            continue
        where: dict[str, Any] = dict(src=f"can:0x{start.arbitration_id:03X}", protocol="can", time=start.time)
        state = vehicle.at(start.time)
        missing = [n for n in needed if n not in state]
        threshold = min_soc_pct
        if threshold is None and served is not None and ident in served.campaigns:
            threshold = served.campaigns[ident].min_soc_pct
        if missing or threshold is None:
            what = f"vehicle signals {missing}" if missing else "the campaign's minimum state of charge"
            findings.append(Finding(SAFE_STATE, Verdict.INCONCLUSIVE, clause,
                                    f"campaign {ident}: installation began but {what} could not be observed",
                                    **where))
            continue
        problems = unsafe(state, threshold)
        if problems:
            findings.append(Finding(SAFE_STATE, Verdict.FAIL, clause, (
                f"campaign {ident}: installation began ({start.values.get('ota.status.state')}) outside the "
                f"safe state: {', '.join(problems)}"), **where))
            continue
        findings.append(Finding(SAFE_STATE, Verdict.PASS, clause, (
            f"campaign {ident}: installation began in a safe state ({describe_vehicle(state)})"), **where))
        if deferral_expected:
            findings.append(_deferral(ident, run.records, start.time, vehicle, threshold, clause))
    if not any(run.install_start for run in runs.values()):
        verdict = Verdict.INCONCLUSIVE if installation_expected else Verdict.PASS
        findings.append(Finding(SAFE_STATE, verdict, clause, "no installation began" + (
            ", so the installation's preconditions were not exercised" if installation_expected else ""),
            protocol="can"))
    lost = losses(evidence, ("ota.status.state", "vehicle.speed_kph", "battery.soc_pct"))
    if lost and all(f.verdict is Verdict.PASS for f in findings):
        findings.append(Finding(SAFE_STATE, Verdict.INCONCLUSIVE, clause,
                                f"CAN recording lost frames of {lost}; the state at installation is uncertain",
                                protocol="can"))
    return findings


def _deferral(ident: int, records: list[Any], start: float, vehicle: VehicleTimeline, threshold: float,
              clause: str) -> Finding:
    """While the vehicle was unsafe, the ECU showed that the installation waits, and why."""
    waiting = [r for r in records if r.time < start and r.values.get("ota.status.state") == "WaitingSafeState"
               and unsafe(vehicle.at(r.time), threshold)]
    if not waiting:
        return Finding(SAFE_STATE, Verdict.INCONCLUSIVE, clause,
                       f"campaign {ident}: the package was never ready while the vehicle was unsafe, so the "
                       "deferral was not exercised", protocol="can")
    told = [r for r in waiting if r.values.get("ota.status.fail_reason") in DEFERRAL_REASONS]
    if not told:
        return Finding(SAFE_STATE, Verdict.FAIL, clause,
                       f"campaign {ident}: the installation waited for a safe state without telling the owner why",
                       protocol="can", time=waiting[0].time)
    reasons = sorted({str(r.values["ota.status.fail_reason"]) for r in told})
    return Finding(SAFE_STATE, Verdict.PASS, clause,
                   f"campaign {ident}: installation deferred while unsafe, the owner told why ({', '.join(reasons)})",
                   protocol="can", time=told[0].time)


@register(INHIBIT)
def check_drive_inhibit(evidence: Evidence, policy: Policy, *, installation_expected: bool = True,
                        rule_id: str = "ota.drive-inhibit") -> list[Finding]:
    clause = policy.profile.rule(rule_id).primary
    inhibit = [r for r in evidence.can if "ota.inhibit.request" in r.values]
    runs = [run for run in campaign_runs(evidence).values() if run.install_start is not None]
    if not runs:
        verdict = Verdict.INCONCLUSIVE if installation_expected else Verdict.PASS
        return [Finding(INHIBIT, verdict, clause, "no installation took place", protocol="can")]
    if len(inhibit) < 2:
        return [Finding(INHIBIT, Verdict.INCONCLUSIVE, clause, "the ECU sent no DriveInhibit message on CAN",
                        protocol="can")]
    # a changed request may lag the status by up to one of its cycles
    grace = 1.5 * statistics.median(b.time - a.time for a, b in zip(inhibit, inhibit[1:], strict=False))
    findings: list[Finding] = []
    for run in sorted(runs, key=lambda r: r.campaign_id):
        assert run.install_start is not None
        begin = run.install_start.time
        if run.install_start.values.get("ota.status.state") not in INSTALLING:
            continue  # the installation was shown only as finished: there was no window to inhibit in
        end = run.install_end.time if run.install_end is not None else float("inf")
        # frames around the window's edges may show the request changing with the status
        around = [r for r in inhibit if begin - grace <= r.time <= end + grace]
        window = [r for r in around if begin + grace <= r.time <= end - grace]
        where: dict[str, Any] = dict(src=f"can:0x{inhibit[0].arbitration_id:03X}", protocol="can", time=begin)
        if not around:
            findings.append(Finding(INHIBIT, Verdict.INCONCLUSIVE, clause,
                                    f"campaign {run.campaign_id}: no DriveInhibit frame during the installation",
                                    **where))
            continue
        requested = [r for r in around if int(r.values["ota.inhibit.request"]) == 1]
        free = [r for r in window if int(r.values["ota.inhibit.request"]) != 1]
        silent = [r for r in requested if r.values.get("ota.inhibit.reason", "None") == "None"]
        attempts = [c for c in VehicleTimeline(evidence.can).between(begin, end)
                    if c[1] == "vehicle.gear" and c[2] != "P"]
        tried = f"; the driver selected {attempts[0][2]} during it" if attempts else ""
        if free or not requested:
            where["time"] = (free or around)[0].time
            what = f"in {len(free)} of {len(window)} DriveInhibit frames" if free else \
                f"in any of the {len(around)} DriveInhibit frames"
            findings.append(Finding(INHIBIT, Verdict.FAIL, clause, (
                f"campaign {run.campaign_id}: driving was not inhibited {what} while the update installed{tried}"),
                **where))
        elif silent:
            where["time"] = silent[0].time
            findings.append(Finding(INHIBIT, Verdict.FAIL, clause, (
                f"campaign {run.campaign_id}: driving was inhibited without a reason for the owner in "
                f"{len(silent)} frames"), **where))
        else:
            reasons = sorted({str(r.values['ota.inhibit.reason']) for r in requested})
            findings.append(Finding(INHIBIT, Verdict.PASS, clause, (
                f"campaign {run.campaign_id}: driving inhibited throughout the installation "
                f"({len(requested)} frames, reason {', '.join(reasons)}){tried}"), **where))
    lost = losses(evidence, ("ota.inhibit.reason", "ota.status.state"))
    if lost and all(f.verdict is Verdict.PASS for f in findings):
        findings.append(Finding(INHIBIT, Verdict.INCONCLUSIVE, clause,
                                f"CAN recording lost frames of {lost}; an uninhibited moment may be missing",
                                protocol="can"))
    return findings
