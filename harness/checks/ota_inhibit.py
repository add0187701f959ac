"""OTA safety during an update: the vehicle cannot be driven while the update installs and while it
activates, and the owner is told why (DriveInhibit request and reason).

Judged from the CAN recording, phase by phase of the ECU's OtaStatus; a phase the recording does not
show long enough to judge (a jump of vehicle time across activation) is `inconclusive`, named."""

from __future__ import annotations

import statistics
from typing import Any

from harness.checks.ota_situations import parse_situations, unseen
from harness.checks.ota_timeline import (
    INSTALLING,
    STATE,
    CampaignRun,
    VehicleTimeline,
    campaign_runs,
    doubt_lost_frames,
)
from harness.checks.registry import register
from harness.findings import Finding, Verdict
from harness.net.evidence import CanRecord, Evidence
from harness.policy.policy import Policy

INHIBIT = "ota-drive-inhibit"
PHASES = ("Installing", "Activating")


def phases(run: CampaignRun) -> list[tuple[str, float, float]]:
    """(state, begin, end) of each stretch of installation or activation the status showed."""
    assert run.install_start is not None
    end = run.install_end.time if run.install_end is not None else float("inf")
    spans: list[tuple[str, float, float]] = []
    for record in run.records:
        if not run.install_start.time <= record.time < end:
            continue
        state = str(record.values.get(STATE))
        if spans and spans[-1][0] == state:
            continue
        if spans:
            spans[-1] = (spans[-1][0], spans[-1][1], record.time)
        spans.append((state, record.time, end))
    return [s for s in spans if s[0] in INSTALLING]


@register(INHIBIT)
def check_drive_inhibit(evidence: Evidence, policy: Policy, *, installation_expected: bool = True,
                        expected_phases: list[str] | None = None,
                        situations: dict[str, dict[str, Any]] | None = None,
                        rule_id: str = "ota.drive-inhibit") -> list[Finding]:
    """`expected_phases`: the update phases that must be seen inhibited (default installation and
    activation); `situations`: vehicle states the test promises during them (the driver selects D)."""
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
    vehicle = VehicleTimeline(evidence.can)
    promised = parse_situations(situations)
    wanted = tuple(expected_phases if expected_phases is not None else PHASES)
    seen: set[str] = set()
    findings: list[Finding] = []
    for run in sorted(runs, key=lambda r: r.campaign_id):
        assert run.install_start is not None
        if run.install_start.values.get(STATE) not in INSTALLING:
            continue  # the installation was shown only as finished: there was no window to inhibit in
        where: dict[str, Any] = dict(src=f"can:0x{inhibit[0].arbitration_id:03X}", protocol="can",
                                     time=run.install_start.time)
        judged: dict[str, list[CanRecord]] = {}
        spans = phases(run)
        if not spans:
            continue
        # frames around the update's edges may show the request changing with the status; between
        # installation and activation it stays requested, so only the outer edges need the grace
        first, last = spans[0][1] + grace, spans[-1][2] - grace
        for state, begin, end in spans:
            judged.setdefault(state, []).extend(r for r in inhibit if max(begin, first) <= r.time < end
                                                and r.time <= last)
        frames = [r for rs in judged.values() for r in rs]
        for record in frames:
            seen.update(s.name for s in promised if s.holds(vehicle.at(record.time)))
        free = [(state, r) for state, rs in judged.items() for r in rs if int(r.values["ota.inhibit.request"]) != 1]
        silent = [r for r in frames if int(r.values["ota.inhibit.request"]) == 1
                  and r.values.get("ota.inhibit.reason", "None") == "None"]
        if free:
            where["time"] = free[0][1].time
            states = sorted({state for state, _ in free})
            findings.append(Finding(INHIBIT, Verdict.FAIL, clause, (
                f"campaign {run.campaign_id}: driving was not inhibited in {len(free)} of {len(frames)} DriveInhibit "
                f"frames while the update showed {' and '.join(states)}{_tried(vehicle, run)}"), **where))
        elif silent:
            where["time"] = silent[0].time
            findings.append(Finding(INHIBIT, Verdict.FAIL, clause, (
                f"campaign {run.campaign_id}: driving was inhibited without a reason for the owner in "
                f"{len(silent)} of {len(frames)} frames"), **where))
        elif frames:
            reasons = sorted({str(r.values['ota.inhibit.reason']) for r in frames})
            counts = ", ".join(f"{state} {len(rs)}" for state, rs in judged.items() if rs)
            findings.append(Finding(INHIBIT, Verdict.PASS, clause, (
                f"campaign {run.campaign_id}: driving inhibited throughout the update (frames: {counts}; "
                f"reason {', '.join(reasons)}){_tried(vehicle, run)}"), **where))
        for state in wanted:
            if not judged.get(state):
                findings.append(Finding(INHIBIT, Verdict.INCONCLUSIVE, clause, (
                    f"campaign {run.campaign_id}: no DriveInhibit frame could be judged while the update showed "
                    f"{state}, so the inhibit during {state.lower()} was not exercised"), **where))
    findings += unseen(INHIBIT, clause, promised, seen, "the vehicle was never in it while the update ran")
    if not findings:
        findings.append(Finding(INHIBIT, Verdict.INCONCLUSIVE, clause,
                                "no installation window was shown on CAN", protocol="can"))
    doubt_lost_frames(findings, evidence, INHIBIT, clause, ("ota.inhibit.reason", "ota.status.state"),
                      "an uninhibited moment may be missing")
    return findings


def _tried(vehicle: VehicleTimeline, run: CampaignRun) -> str:
    assert run.install_start is not None
    end = run.install_end.time if run.install_end is not None else float("inf")
    attempts = [c for c in vehicle.between(run.install_start.time, end) if c[1] == "vehicle.gear" and c[2] != "P"]
    return f"; the driver selected {attempts[0][2]} during it" if attempts else ""
