"""How OTA updates end: a failed or interrupted update leaves a working vehicle on the previous
version (or finishes), and the owner is told whether the update completed.

Judged from the CAN recording: the versions the ECU shows before and after, its drive inhibit
after the end, the supply voltage and its own silences (power cycles), and the result on screen."""

from __future__ import annotations

from typing import Any

from harness.checks.ota_timeline import (
    INSTALLING,
    CampaignRun,
    campaign_runs,
    doubt_lost_frames,
    shown,
    silences,
    version_of,
)
from harness.checks.registry import register
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.policy.policy import Policy

ROLLBACK, RESULT = "ota-rollback", "ota-result-notice"
ROLLED_BACK = "FailedRolledBack"
SUCCESS, FAILURES = "Success", ("Failed", ROLLED_BACK)


def _interruption(evidence: Evidence, run: CampaignRun, min_supply_v: float) -> str | None:
    """What interrupted the update, as the recording shows it, or None."""
    if run.install_start is None:
        return f"the update failed ({run.end.values.get('ota.status.fail_reason')})" if run.end is not None and \
            run.result in FAILURES else None
    begin = run.install_start.time
    end = run.end.time if run.end is not None else float("inf")
    for record in evidence.can:
        volts = record.values.get("battery.lv_voltage")
        if volts is not None and begin <= record.time <= end and float(volts) < min_supply_v:
            return f"the supply fell to {float(volts):.1f} V during installation"
    for start, stop in silences(evidence.can, "ota.status.state"):
        if begin <= start <= end:
            return f"the ECU was silent for {stop - start:.1f} s during installation (power cycle)"
    if run.result in FAILURES:
        return f"the update failed ({run.end.values.get('ota.status.fail_reason') if run.end else '?'})"
    return None


@register(ROLLBACK)
def check_rollback(evidence: Evidence, policy: Policy, *, interruption_expected: bool = True,
                   rule_id: str = "ota.rollback") -> list[Finding]:
    rule = policy.profile.rule(rule_id)
    clause, min_supply_v = rule.primary, rule.limit("min_supply_v")
    runs = [r for r in campaign_runs(evidence).values() if r.began is not None]
    findings: list[Finding] = []
    interrupted = 0
    last_status = max((r.time for r in evidence.can if "ota.status.state" in r.values), default=None)
    last_frame = evidence.can[-1].time if evidence.can else None
    for run in sorted(runs, key=lambda r: r.campaign_id):
        why = _interruption(evidence, run, min_supply_v)
        interrupted += why is not None
        findings.append(_working(evidence, run, why, last_status, last_frame, clause))
    if interruption_expected and not interrupted:
        findings.append(Finding(ROLLBACK, Verdict.INCONCLUSIVE, clause,
                                "no update was interrupted or failed, so recovery was not exercised", protocol="can"))
    if not runs:
        findings.append(Finding(ROLLBACK, Verdict.INCONCLUSIVE if interruption_expected else Verdict.PASS, clause,
                                "no update began", protocol="can"))
    doubt_lost_frames(findings, evidence, ROLLBACK, clause, ("ota.status.state", "ota.inhibit.reason"),
                      "the recovery may not be shown whole")
    return findings


def _working(evidence: Evidence, run: CampaignRun, why: str | None, last_status: float | None,
             last_frame: float | None, clause: str) -> Finding:
    ident = run.campaign_id
    cause = f" after {why}" if why else ""
    if run.end is None:
        return Finding(ROLLBACK, Verdict.INCONCLUSIVE, clause,
                       f"campaign {ident}: the update had not ended when the recording stopped{cause}", protocol="can")
    final = run.final
    assert final is not None
    where: dict[str, Any] = dict(src=f"can:0x{final.arbitration_id:03X}", protocol="can", time=final.time)
    if last_status is not None and last_frame is not None and last_frame - last_status > 2.0:
        return Finding(ROLLBACK, Verdict.INCONCLUSIVE, clause, (
            f"campaign {ident}: the ECU went silent {last_frame - last_status:.1f} s before the recording "
            f"ended{cause}; whether the vehicle works is unknown"), **where)
    version = version_of(final)
    good = {run.version_before} | ({run.target} if run.target else set())
    inhibited = _inhibited_after(evidence, run.end.time, min(final.time + 0.5, run.until))
    if inhibited is None:
        return Finding(ROLLBACK, Verdict.INCONCLUSIVE, clause,
                       f"campaign {ident}: no DriveInhibit frame after the update ended{cause}", **where)
    problems = []
    if version not in good:
        problems.append(f"it shows software version {shown(version)}, neither the previous "
                        f"{shown(run.version_before)} nor the campaign's {shown(run.target)}")
    if inhibited:
        problems.append("driving stays inhibited")
    if problems:
        return Finding(ROLLBACK, Verdict.FAIL, clause,
                       f"campaign {ident}: the vehicle is not left working{cause}: {'; '.join(problems)}", **where)
    which = "the previous" if version == run.version_before else "the new"
    return Finding(ROLLBACK, Verdict.PASS, clause, (
        f"campaign {ident}: ended {run.end_state}{cause}; the vehicle works on {which} version {shown(version)} "
        "and may be driven"), **where)


def _inhibited_after(evidence: Evidence, end: float, until: float) -> bool | None:
    """Whether the ECU's drive-inhibit request, as last sent after the update ended, still inhibits
    driving; None when no request was seen then. A change goes out with the status that ends the
    update, so frames from just before that status count too."""
    after = [r for r in evidence.can if "ota.inhibit.request" in r.values and end - 0.2 <= r.time < until]
    return int(after[-1].values["ota.inhibit.request"]) == 1 if after else None


@register(RESULT)
def check_result_notice(evidence: Evidence, policy: Policy, *, expected: list[str] | None = None,
                        rule_id: str = "ota.result-notice") -> list[Finding]:
    """`expected`: results the test meant to produce; each must have been shown at least once, else
    the test did not exercise what it is about."""
    clause = policy.profile.rule(rule_id).primary
    runs = [r for r in campaign_runs(evidence).values() if r.began is not None]
    findings: list[Finding] = []
    for run in sorted(runs, key=lambda r: r.campaign_id):
        ident = run.campaign_id
        if run.end is None:
            findings.append(Finding(RESULT, Verdict.INCONCLUSIVE, clause,
                                    f"campaign {ident}: the update had not ended when the recording stopped",
                                    protocol="can"))
            continue
        where: dict[str, Any] = dict(src=f"can:0x{run.end.arbitration_id:03X}", protocol="can", time=run.end.time)
        reason = str(run.end.values.get("ota.status.fail_reason", "None"))
        installed = run.install_start is not None and run.install_start.values.get("ota.status.state") in \
            INSTALLING | {"Completed"}
        if not run.told:
            findings.append(Finding(RESULT, Verdict.FAIL, clause, (
                f"campaign {ident}: the update ended ({'after installing' if installed else 'before installing'}) "
                f"but the owner's screen showed no result: state {run.end_state}, result {run.result}"), **where))
        elif run.result == SUCCESS and run.end_state != "Completed":
            findings.append(Finding(RESULT, Verdict.FAIL, clause,
                                    f"campaign {ident}: result Success shown with state {run.end_state}", **where))
        elif run.result in FAILURES and reason == "None":
            findings.append(Finding(RESULT, Verdict.FAIL, clause,
                                    f"campaign {ident}: the owner was told the update failed but not why", **where))
        elif run.result == ROLLED_BACK and not installed:
            findings.append(Finding(RESULT, Verdict.FAIL, clause, (
                f"campaign {ident}: the owner was told the update was rolled back ({reason}), but no installation "
                "had begun: nothing was rolled back"), **where))
        else:
            because = f" ({reason})" if run.result in FAILURES else ""
            findings.append(Finding(RESULT, Verdict.PASS, clause,
                                    f"campaign {ident}: the owner was told the result: {run.result}{because}", **where))
    shown = {r.result for r in runs if r.told}
    for result in expected or []:
        alike = {result} | (set(FAILURES) if result in FAILURES else set())  # failed with or without rollback
        if not shown & alike:
            findings.append(Finding(RESULT, Verdict.INCONCLUSIVE, clause,
                                    f"no update ended with the owner shown {result}, so that outcome was not exercised",
                                    protocol="can"))
    if not runs:
        findings.append(Finding(RESULT, Verdict.INCONCLUSIVE, clause, "no update began", protocol="can"))
    doubt_lost_frames(findings, evidence, RESULT, clause, ("ota.status.state",),
                      "a result may have been missed")
    return findings
