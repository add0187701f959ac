"""No undisclosed change of vehicle performance: the limits the ECU puts on CAN (usable battery
capacity, drive power, top speed) before and after an update differ only as the campaign declared.

The declaration is read from the campaign metadata in the IP capture; the limits from the
PerformanceLimits message, the last value before installation against the value after the result."""

from __future__ import annotations

from typing import Any

from harness.checks.ota_timeline import campaign_runs, doubt_lost_frames
from harness.checks.registry import register
from harness.findings import Finding, Verdict, doubt
from harness.net.evidence import CanRecord, Evidence
from harness.net.ota_wire import http_exchanges, opaque_sessions, served_campaigns
from harness.policy.policy import Policy

CHECK = "ota-performance-disclosure"
PREFIX = "limits."
TOLERANCE = 0.051  # half a step of the coarsest scaling (0.1) plus rounding: equal on the wire


def _limits(record: CanRecord) -> dict[str, float]:
    return {k[len(PREFIX):]: float(v) for k, v in record.values.items()
            if k.startswith(PREFIX) and isinstance(v, int | float)}


@register(CHECK)
def check_performance_disclosure(evidence: Evidence, policy: Policy, *,
                                 declared_changes: dict[str, float] | None = None, installation_expected: bool = True,
                                 rule_id: str = "ota.performance-disclosure") -> list[Finding]:
    """`declared_changes` overrides the capture's declaration (for a backend whose metadata is encrypted)."""
    clause = policy.profile.rule(rule_id).primary
    limits = [r for r in evidence.can if any(k.startswith(PREFIX) for k in r.values)]
    served = served_campaigns(http_exchanges(evidence.flows), opaque_sessions(evidence.flows))
    findings: list[Finding] = []
    completed = [run for run in campaign_runs(evidence).values()
                 if run.end is not None and run.end.values.get("ota.status.state") == "Completed"]
    for run in sorted(completed, key=lambda r: r.campaign_id):
        ident = run.campaign_id
        start = run.install_start or run.end
        assert start is not None and run.end is not None
        before = [r for r in limits if r.time < start.time]
        until = run.until  # up to the next campaign
        after = [r for r in limits if run.end.time - 0.2 <= r.time < until]
        if not before or not after:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
                f"campaign {ident}: no PerformanceLimits on CAN {'before installation' if not before else 'after it'}"),
                protocol="can"))
            continue
        declared = declared_changes
        if declared is None:
            campaign = served.campaigns.get(ident)
            if campaign is None:
                findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
                    f"campaign {ident}: its declared changes are not in the capture"
                    f"{served.unread_detail()}, so the limits cannot be compared with them"),
                    protocol="http"))
                continue
            declared = campaign.declared_changes
        findings.append(_compare(ident, _limits(before[-1]), _limits(after[-1]), declared, after[-1], clause))
    if not completed:
        verdict = Verdict.INCONCLUSIVE if installation_expected else Verdict.PASS
        findings.append(Finding(CHECK, verdict, clause, "no update completed, so no performance change to compare",
                                protocol="can"))
    hidden = served.hidden_note() if declared_changes is None else ""
    if hidden and completed:
        doubt(findings, CHECK, clause, f"{hidden}: the changes the campaign declared there are unknown", "tls")
    doubt_lost_frames(findings, evidence, CHECK, clause, ("limits.usable_capacity_kwh", "ota.status.state"),
                      "a change may have been missed")
    return findings


def _compare(ident: int, before: dict[str, float], after: dict[str, float], declared: dict[str, Any],
             record: CanRecord, clause: str) -> Finding:
    where: dict[str, Any] = dict(src=f"can:0x{record.arbitration_id:03X}", protocol="can", time=record.time)
    problems, changes = [], []
    for name in sorted(set(before) | set(after) | set(declared)):
        old, new = before.get(name), after.get(name)
        if old is None or new is None:
            if name in declared:
                problems.append(f"{name} was declared to become {declared[name]:g} but is not on CAN")
            continue
        changed = abs(new - old) > TOLERANCE
        if name in declared and abs(new - float(declared[name])) > TOLERANCE:
            problems.append(f"{name} {old:g} -> {new:g}, but the campaign declared {float(declared[name]):g}")
        elif changed and name not in declared:
            percent = f" ({100 * (new - old) / old:+.0f} %)" if old else ""
            problems.append(f"{name} {old:g} -> {new:g}{percent}, not declared by the campaign")
        elif changed:
            changes.append(f"{name} {old:g} -> {new:g} as declared")
    if problems:
        return Finding(CHECK, Verdict.FAIL, clause, f"campaign {ident}: undisclosed performance change: "
                       + "; ".join(problems), **where)
    said = "; ".join(changes) if changes else "no limit changed, and none was declared to"
    return Finding(CHECK, Verdict.PASS, clause, f"campaign {ident}: {said}", **where)
