"""The owner's privacy switches: after the owner withdraws consent nothing of its categories leaves
the vehicle (allowing a stated latency), and by default (before the owner ever switches it on)
cabin, face and voice data are processed in the vehicle and never sent.

The switches and the categories they govern are netmap data; their states come from the CAN
recording and message times from the captured traffic, both on one timeline. Destinations whose
purpose is a legal obligation (mandated reporting) are not governed by the owner's switches."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.checks.before_settings import Unset, ecu_start, unset, unshown
from harness.checks.ota_situations import Situation, parse_situations, seen_at, unseen
from harness.checks.registry import register
from harness.checks.timeline import (
    Period,
    VehicleTime,
    message_of,
    recording_end,
    recording_start,
    switch_periods,
)
from harness.checks.traffic import Sent, completeness, nothing_captured, purposes_for, vehicle_traffic
from harness.checks.withdrawals import ON, Withdrawal, longest_silence, promised_withdrawals, unexercised, withdrawal
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.policy.netmap import ConsentSwitch, Netmap
from harness.policy.policy import Policy


def _governed(netmap: Netmap, sent: list[Sent], categories: Iterable[str]) -> list[Sent]:
    """Flows whose destination is not exempt (by a legal obligation) for any of `categories`."""
    wanted = set(categories)
    kept = []
    for flow in sent:
        mandated = {c for p in purposes_for(netmap, flow) if p.legal_obligation for c in p.categories}
        if wanted - mandated:
            kept.append(flow)
    return kept


def _violations(flows: list[Sent], categories: frozenset[str], start: float, end: float,
                netmap: Netmap) -> tuple[list[tuple[Sent, float, frozenset[str]]], list[Sent]]:
    """Messages carrying `categories` sent in [start, end), and undecodable flows active then."""
    seen, unknown = [], []
    for flow in flows:
        for time, carried in _carrying(flow, categories, netmap):
            if start <= time < end:
                seen.append((flow, time, carried))
        if not flow.payload.decodable and flow.flow.first_time < end and flow.flow.last_time >= start:
            unknown.append(flow)
    return seen, unknown


def _carrying(flow: Sent, categories: frozenset[str], netmap: Netmap) -> list[tuple[float, frozenset[str]]]:
    """(time, categories) of each message in `flow` carrying any of `categories` the owner governs there."""
    mandated = {c for p in purposes_for(netmap, flow) if p.legal_obligation for c in p.categories}
    wanted = categories - mandated
    return [(item.time, item.categories & wanted) for item in flow.payload.items if item.categories & wanted]


def _lost(evidence: Evidence, signal: str) -> int:
    message = message_of(evidence, signal)
    return evidence.can_gaps.get(message, 0) if message else 0


@register("consent")
def check_consent_withdrawal(evidence: Evidence, policy: Policy, *, latency_s: float | None = None,
                             situations: dict[str, dict[str, Any]] | None = None,
                             rule_id: str = "minimization.consent") -> list[Finding]:
    """After a switch goes from On to Off, nothing of its categories leaves once the rule's latency
    (`latency_s` overrides the profile's) has passed in vehicle time, until the switch is on again.

    `situations`: the withdrawals the test promises, e.g. `{"location withdrawn": {"consent.location":
    "Off"}}` (default: every switch of the netmap). One is seen when a switch went from On to that
    state after its categories flowed, and the vehicle was then seen sending, the switch still off,
    for the latency plus the longest it went without sending them while allowed."""
    netmap = policy.netmap
    rule = policy.profile.rule(rule_id)
    clause = rule.primary
    latency = rule.limit("latency_s") if latency_s is None else latency_s
    check = "consent"
    findings = completeness(evidence, check, clause)
    if not netmap.consents:
        return [*findings, Finding(check, Verdict.INCONCLUSIVE, clause,
                                   "the netmap declares no consent switches ([[consent]]); nothing to judge")]
    clock = evidence.clock
    sent = vehicle_traffic(evidence, netmap)
    empty = nothing_captured(sent, check, clause)
    if empty is not None:  # a silent vehicle shows nothing about its switches
        return [*findings, empty]
    end, origin = recording_end(evidence), recording_start(evidence)
    activity = sorted(item.time for flow in sent for item in flow.payload.items)
    shown: list[Withdrawal] = []
    for switch in netmap.consents:
        periods = switch_periods(evidence, switch.signal, end)
        flows = _governed(netmap, sent, switch.categories)
        sends = sorted(t for flow in flows for t, _ in _carrying(flow, switch.categories, netmap))
        silence = longest_silence(periods, sends, clock)
        lost = _lost(evidence, switch.signal)
        for before, period in zip(periods, periods[1:], strict=False):
            if before.state != ON or period.state == ON:
                continue
            shown.append(withdrawal(switch.signal, before, period, sends, activity, clock,
                                    latency + (silence or 0.0)))
            findings += _judge_withdrawal(switch, period, flows, clock, latency, lost, netmap, clause, origin)
    promised = parse_situations(situations) if situations is not None else promised_withdrawals(netmap.consents)
    findings += unexercised(check, clause, promised, shown, {s.signal: s for s in netmap.consents}, latency)
    if not shown and not promised:
        findings.append(Finding(check, Verdict.INCONCLUSIVE, clause, (
            "the recording shows no withdrawal of consent (no switch going from On to Off) among "
            f"{', '.join(s.signal for s in netmap.consents)}; nothing to judge"), protocol="can"))
    return findings


def _judge_withdrawal(switch: ConsentSwitch, period: Period, flows: list[Sent], clock: VehicleTime,
                      latency_s: float, lost: int, netmap: Netmap, clause: str, origin: float) -> list[Finding]:
    check = "consent"
    deadline = clock.wall_after(period.start, latency_s)
    when = f"{clock.seconds(origin, period.start):.1f} s into the recording (vehicle time)"
    lasting = clock.seconds(period.start, period.end)
    seen, unknown = _violations(flows, switch.categories, deadline, period.end, netmap)
    uncertain = f"; {lost} frames of the switch's message were lost, so its state is uncertain" if lost else ""
    verdict_on_fail = Verdict.INCONCLUSIVE if lost else Verdict.FAIL
    findings = []
    for flow, time, categories in seen:
        findings.append(Finding(check, verdict_on_fail, clause, (
            f"{', '.join(sorted(categories))} sent to {flow.address} {clock.seconds(period.start, time):.1f} s "
            f"(vehicle time) after {switch.signal} was switched off {when}, beyond the {latency_s:g} s "
            f"allowed{uncertain}"), **flow.where(categories, time)))
    for flow in unknown:
        findings.append(Finding(check, Verdict.INCONCLUSIVE, clause, (
            f"undecodable payload to {flow.address} while {switch.signal} was off ({flow.payload.detail}); "
            f"whether it carries {', '.join(sorted(switch.categories))} is unknown"), **flow.where()))
    if not seen and not unknown:
        findings.append(Finding(check, Verdict.INCONCLUSIVE if lost else Verdict.PASS, clause, (
            f"after {switch.signal} was switched off {when}, no {', '.join(sorted(switch.categories))} left "
            f"the vehicle in the {max(0.0, lasting - latency_s):.0f} s (vehicle time) it stayed off beyond "
            f"the {latency_s:g} s allowed{uncertain}"), protocol="can", time=period.start))
    return findings


@register("in-vehicle-processing")
def check_in_vehicle_processing(evidence: Evidence, policy: Policy, *, categories: list[str] | None = None,
                                situations: dict[str, dict[str, Any]] | None = None,
                                before_settings: dict[str, dict[str, Any]] | None = None,
                                rule_id: str = "minimization.in-vehicle-processing") -> list[Finding]:
    """By default nothing of `categories` (default: the profile's consent-required categories:
    cabin imagery, biometrics, audio) leaves the vehicle: not before the owner first switches the
    governing switch on, not while the switch has not reached the ECU since it started (where the
    recording shows the ECU start), and never when no switch governs the category.

    `situations`: vehicle states the test promises the defaults were kept in (the ignition on, so
    the cabin camera and the assistant run); one is seen when the vehicle sent something while it
    held and every judged switch was still at its default. `before_settings`: vehicle states the
    test promises the vehicle ran in without any judged switch received (see before_settings.unshown)."""
    profile, netmap = policy.profile, policy.netmap
    clause = profile.rule(rule_id).primary
    check = "in-vehicle-processing"
    judged = frozenset(categories) if categories is not None else profile.consent_required_categories
    findings = completeness(evidence, check, clause)
    clock = evidence.clock
    sent = vehicle_traffic(evidence, netmap)
    empty = nothing_captured(sent, check, clause)
    if empty is not None:
        return [*findings, empty]
    end = recording_end(evidence)
    start = min([f.flow.first_time for f in sent] + [r.time for r in evidence.can[:1]], default=0.0)
    ungoverned = set(judged)
    default_end = end
    booted = ecu_start(evidence)
    windows: list[Unset | str] = []
    waits: dict[str, float | None] = {}
    for switch in netmap.consents:
        mine = switch.categories & judged
        if not mine:
            continue
        ungoverned -= mine
        flows, lost = _governed(netmap, sent, mine), _lost(evidence, switch.signal)
        periods = switch_periods(evidence, switch.signal, end)
        windows.append(window := unset(evidence, switch.signal, booted, end))
        waits[switch.signal] = longest_silence(
            periods, sorted(t for flow in flows for t, _ in _carrying(flow, mine, netmap)), clock,
            from_first_frame=isinstance(window, Unset))
        if isinstance(window, Unset):  # the ECU ran without this setting: judged like the default
            findings += _judge_unset(window, mine, flows, clock, lost, netmap, clause)
        if not periods:
            findings.append(Finding(check, Verdict.INCONCLUSIVE, clause,
                                    f"{switch.signal} was not seen on CAN; its default cannot be judged",
                                    protocol="can"))
            continue
        first_on = next((p.start for p in periods if p.state == ON), end)
        default_end = min(default_end, first_on)
        if first_on <= periods[0].start:
            if not isinstance(window, Unset):
                findings.append(Finding(check, Verdict.INCONCLUSIVE, clause, (
                    f"{switch.signal} was on from the start of the recording; the default was not observed"),
                    protocol="can"))
            continue
        findings += _judge_default(switch.signal, mine, flows, start, first_on, clock, lost, netmap, clause,
                                   periods[0].state, since=window.until if isinstance(window, Unset) else None)
    if ungoverned:
        findings += _judge_default(None, frozenset(ungoverned), _governed(netmap, sent, ungoverned), start, end, clock,
                                   0, netmap, clause, "")
    activity = sorted(item.time for flow in sent for item in flow.payload.items)
    return (findings + _kept_in(evidence, sent, parse_situations(situations), start, default_end, check, clause)
            + unshown(evidence, parse_situations(before_settings), windows, waits, activity, check, clause))


def _judge_unset(window: Unset, categories: frozenset[str], flows: list[Sent], clock: VehicleTime, lost: int,
                 netmap: Netmap, clause: str) -> list[Finding]:
    """Nothing of `categories` leaves before the switch governing them has reached the ECU: a setting
    the vehicle has not received is no consent."""
    check = "in-vehicle-processing"
    seen, unknown = _violations(flows, categories, float("-inf"), window.until, netmap)
    lasted = clock.seconds(window.start, window.until)
    setting = (f"before {window.signal} had been on the bus (its first frame came {lasted:.1f} s after the ECU "
               "started)" if window.appeared else f"while {window.signal} was never on the bus")
    uncertain = f"; {lost} frames of the switch's message were lost" if lost else ""
    findings = [Finding(check, Verdict.INCONCLUSIVE if lost else Verdict.FAIL, clause, (
        f"{', '.join(sorted(cats))} sent to {flow.address} {clock.seconds(window.start, time):.1f} s (vehicle time) "
        f"after the ECU started, {setting}: a setting the vehicle had not received was taken as the owner's "
        f"consent{uncertain}"), **flow.where(cats, time)) for flow, time, cats in seen]
    findings += [Finding(check, Verdict.INCONCLUSIVE, clause, (
        f"undecodable payload to {flow.address} {setting} ({flow.payload.detail}); whether it carries "
        f"{', '.join(sorted(categories))} is unknown"), **flow.where()) for flow in unknown]
    if not seen and not unknown:
        span = (f"until {window.signal} first came on the bus" if window.appeared
                else f"to the end of the recording, {window.signal} never on the bus")
        findings.append(Finding(check, Verdict.INCONCLUSIVE if lost else Verdict.PASS, clause, (
            f"no {', '.join(sorted(categories))} left the vehicle in the {lasted:.1f} s (vehicle time) from the "
            f"ECU's start {span}{uncertain}"), protocol="can", time=window.until))
    return findings


def _kept_in(evidence: Evidence, sent: list[Sent], promised: list[Situation], start: float, until: float,
             check: str, clause: str) -> list[Finding]:
    """Inconclusive for each promised situation in which the vehicle, its switches still at their
    defaults, was never seen sending: a vehicle that sent nothing then kept nothing in either."""
    if not promised:
        return []
    times = [item.time for flow in sent for item in flow.payload.items if start <= item.time < until]
    seen = seen_at(evidence.can, promised, times)
    return unseen(check, clause, promised, seen, "the vehicle, its switches at their defaults, sent nothing "
                  "while it held, so what it keeps in the vehicle then was not observed")


def _judge_default(signal: str | None, categories: frozenset[str], flows: list[Sent], start: float, end: float,
                   clock: VehicleTime, lost: int, netmap: Netmap, clause: str, state: str,
                   since: float | None = None) -> list[Finding]:
    """`since`: where the switch's first frame ended a time without it that _judge_unset judged."""
    check = "in-vehicle-processing"
    seen, unknown = _violations(flows, categories, float("-inf") if since is None else since, end, netmap)
    setting = (f"while {signal} was still at its default ({state}), never switched on by the owner"
               if signal else "with no owner switch that could allow it")
    uncertain = f"; {lost} frames of the switch's message were lost" if lost else ""
    findings = []
    for flow, time, cats in seen:
        findings.append(Finding(check, Verdict.INCONCLUSIVE if lost else Verdict.FAIL, clause, (
            f"{', '.join(sorted(cats))} sent to {flow.address} {setting}: it should have been processed "
            f"in the vehicle{uncertain}"), **flow.where(cats, time)))
    for flow in unknown:
        findings.append(Finding(check, Verdict.INCONCLUSIVE, clause, (
            f"undecodable payload to {flow.address} {setting} ({flow.payload.detail}); whether it carries "
            f"{', '.join(sorted(categories))} is unknown"), **flow.where()))
    if not seen and not unknown:
        findings.append(Finding(check, Verdict.INCONCLUSIVE if lost else Verdict.PASS, clause, (
            f"no {', '.join(sorted(categories))} left the vehicle in {clock.seconds(start, end):.0f} s "
            f"(vehicle time) {setting}{uncertain}"), protocol="can" if signal else ""))
    return findings
