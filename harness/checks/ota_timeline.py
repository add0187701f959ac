"""What an OTA update looked like on the bus: per campaign, the version before, when installation
began, how the update ended and what the vehicle showed afterwards; the vehicle's state at any time.

Built from the CAN recording alone (the ECU's OtaStatus and DriveInhibit, the vehicle's messages),
so every OTA check reads the same story of each campaign."""

from __future__ import annotations

import bisect
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.findings import Finding, doubt
from harness.net.evidence import CanRecord, Evidence

STATE, CAMPAIGN, RESULT, REASON = "ota.status.state", "ota.status.campaign_id", "ota.status.result", \
    "ota.status.fail_reason"
ACTIVE = frozenset({"Downloading", "Downloaded", "WaitingSafeState", "Installing", "Activating"})
INSTALLING = frozenset({"Installing", "Activating"})
ENDED = frozenset({"Completed", "Failed", "RolledBack", "Declined"})
VEHICLE_SIGNALS = ("vehicle.speed_kph", "vehicle.gear", "vehicle.parking_brake", "battery.soc_pct",
                   "battery.charging_state", "battery.lv_voltage", "battery.cable_connected")
SILENCE_PERIODS = 5  # more than this many typical periods without a frame: the sender was off, not lost
SILENCE_FLOOR_S = 0.5  # and never less than this: an ECU restarting is off for longer than any jitter


def version_of(record: CanRecord) -> tuple[int, int, int]:
    v = record.values
    return (int(v.get("ota.status.version_major", 0)), int(v.get("ota.status.version_minor", 0)),
            int(v.get("ota.status.version_patch", 0)))


def shown(version: tuple[int, int, int] | None) -> str:
    return ".".join(map(str, version)) if version else "unknown"


@dataclass
class CampaignRun:
    """One campaign as the OtaStatus message told it."""

    campaign_id: int
    records: list[CanRecord]
    version_before: tuple[int, int, int]
    target: tuple[int, int, int] | None = None     # from the notice, where it was shown
    began: CanRecord | None = None                 # first status of an active update (download on)
    install_start: CanRecord | None = None         # first Installing/Activating/Completed status
    install_end: CanRecord | None = None           # first status after installation that is not installing
    end: CanRecord | None = None                   # where the update ended: a result, or the status moved on
    after: list[CanRecord] = field(default_factory=list)  # status records after the end, up to the next campaign
    until: float = float("inf")                    # when the next campaign appeared: this one's story ends there

    @property
    def ended(self) -> bool:
        return self.end is not None

    @property
    def result(self) -> str:
        return str(self.end.values.get(RESULT, "None")) if self.end else "None"

    @property
    def end_state(self) -> str:
        return str(self.end.values.get(STATE, "unknown")) if self.end else "unknown"

    @property
    def told(self) -> bool:
        """The end was shown on screen as this campaign's result."""
        end = self.end
        return (end is not None and end.values.get(CAMPAIGN) == self.campaign_id and self.result != "None"
                and self.end_state in ENDED)

    @property
    def final(self) -> CanRecord | None:
        """The last thing the vehicle showed about itself before the next campaign or the end of the recording."""
        return self.after[-1] if self.after else self.end

    def detail(self) -> str:
        return f"campaign {self.campaign_id}"


def status_records(evidence: Evidence) -> list[CanRecord]:
    return [r for r in evidence.can if STATE in r.values]


def campaign_runs(evidence: Evidence) -> dict[int, CampaignRun]:
    status = status_records(evidence)
    notices = _notice_targets(evidence.can)
    runs: dict[int, CampaignRun] = {}
    order: list[int] = []
    previous: CanRecord | None = None
    for record in status:
        ident = int(record.values.get(CAMPAIGN, 0))
        if ident and ident not in runs:
            base = previous if previous is not None else record
            runs[ident] = CampaignRun(ident, [], version_of(base), notices.get(ident))
            order.append(ident)
        if ident:
            runs[ident].records.append(record)
        previous = record
    for position, ident in enumerate(order):
        run = runs[ident]
        following = order[position + 1] if position + 1 < len(order) else None
        run.until = runs[following].records[0].time if following is not None else float("inf")
        _place(run, [r for r in status if run.records[0].time <= r.time < run.until])
    return runs


def _place(run: CampaignRun, span: list[CanRecord]) -> None:
    active_seen = False
    for record in span:
        state = str(record.values.get(STATE))
        mine = record.values.get(CAMPAIGN) == run.campaign_id
        if run.end is not None:
            run.after.append(record)
            continue
        if mine and state in ACTIVE:
            active_seen = True
            run.began = run.began or record
        if mine and state in INSTALLING | {"Completed"} and run.install_start is None:
            run.install_start = record
        if run.install_start is not None and run.install_end is None and state not in INSTALLING:
            run.install_end = record
        if mine and state in ENDED:
            run.end = record
        elif active_seen and (not mine or state not in ACTIVE | ENDED):
            run.end = record  # the update stopped being shown without a result of its own


def _notice_targets(records: Iterable[CanRecord]) -> dict[int, tuple[int, int, int]]:
    """The target version each campaign's notice showed (pages 0 and 1)."""
    targets: dict[int, tuple[int, int, int]] = {}
    current, major, minor = 0, 0, 0
    for record in records:
        v = record.values
        if "ota.notice.campaign_id" in v:
            current = int(v["ota.notice.campaign_id"])
            major, minor = int(v.get("ota.notice.version_major", 0)), int(v.get("ota.notice.version_minor", 0))
        elif "ota.notice.version_patch" in v and current and current not in targets:
            targets[current] = (major, minor, int(v["ota.notice.version_patch"]))
    return targets


class VehicleTimeline:
    """The vehicle's state (as the rest of the vehicle put it on CAN) at any capture time."""

    def __init__(self, records: Iterable[CanRecord], names: Iterable[str] = VEHICLE_SIGNALS) -> None:
        wanted = set(names)
        self._changes: list[tuple[float, str, Any]] = []
        self._times: list[float] = []
        self._states: list[dict[str, Any]] = []
        state: dict[str, Any] = {}
        for record in records:
            changed = {name: value for name, value in record.values.items()
                       if name in wanted and (name not in state or state[name] != value)}
            if not changed:
                continue
            self._changes += [(record.time, name, value) for name, value in changed.items()]
            state = {**state, **changed}
            if self._times and self._times[-1] == record.time:
                self._states[-1] = state
            else:
                self._times.append(record.time)
                self._states.append(state)

    def at(self, time: float) -> dict[str, Any]:
        index = bisect.bisect_right(self._times, time)
        return dict(self._states[index - 1]) if index else {}

    def between(self, start: float, end: float) -> list[tuple[float, str, Any]]:
        """The changes from `start` up to `end` (the first value of a signal counts as a change)."""
        return [c for c in self._changes if start <= c[0] < end]

    def changes(self) -> list[float]:
        """When the state changed."""
        return list(self._times)


def describe_vehicle(state: dict[str, Any]) -> str:
    parts = []
    if "vehicle.speed_kph" in state:
        speed = float(state["vehicle.speed_kph"])
        parts.append(f"{speed:.0f} km/h" if speed == round(speed) else f"{speed:.1f} km/h")
    for name in ("vehicle.gear", "vehicle.parking_brake", "battery.charging_state"):
        if name in state:
            parts.append(f"{name.split('.')[1].replace('_', ' ')} {state[name]}")
    if "battery.soc_pct" in state:
        soc = float(state["battery.soc_pct"])
        parts.append(f"SOC {soc:.0f} %" if soc == round(soc) else f"SOC {soc:.1f} %")
    return ", ".join(parts)


def lost_frames(records: list[CanRecord], message: str, modulus: int = 16) -> int:
    """Frames of `message` missing from the recording, by its alive counter; a silence of many
    periods (the sender was off, e.g. an ECU power cycle) is not counted as loss."""
    series = [r for r in records if r.message == message and f"counter.{message}" in r.values]
    if len(series) < 3:
        return 0
    period = statistics.median(b.time - a.time for a, b in zip(series, series[1:], strict=False)) or 1e-3
    missing = 0
    for a, b in zip(series, series[1:], strict=False):
        gap = (int(b.values[f"counter.{message}"]) - int(a.values[f"counter.{message}"]) - 1) % modulus
        if gap and b.time - a.time < max(SILENCE_PERIODS * period, SILENCE_FLOOR_S):
            missing += gap
    return missing


def carrying(records: list[CanRecord], name: str) -> list[str]:
    """The DBC messages that carry `name`: an abstract signal (`ota.status.state`) is looked up in the
    recording, so a check works on any vehicle's DBC; a plain message name stands for itself."""
    if "." not in name:
        return [name]
    return list(dict.fromkeys(r.message for r in records if name in r.values))


def losses(evidence: Evidence, signals: Iterable[str]) -> dict[str, int]:
    """Frames lost per DBC message, for the messages carrying `signals` (abstract names)."""
    messages = dict.fromkeys(m for name in signals for m in carrying(evidence.can, name))
    found = {m: lost_frames(evidence.can, m) for m in messages}
    return {m: n for m, n in found.items() if n}


def doubt_lost_frames(findings: list[Finding], evidence: Evidence, check: str, clause: str,
                      signals: Iterable[str], missing: str) -> None:
    """Passes judged on CAN messages the recording lost frames of are inconclusive: `missing` says
    what the lost frames may have held."""
    lost = losses(evidence, signals)
    if lost:
        doubt(findings, check, clause, f"CAN recording lost frames of {lost}; {missing}", "can")


def silences(records: list[CanRecord], signal: str) -> list[tuple[float, float]]:
    """(start, end) of every stretch in which the message carrying `signal` stopped (the ECU was off
    or hung)."""
    message = next(iter(carrying(records, signal)), signal)
    series = [r.time for r in records if r.message == message]
    if len(series) < 3:
        return []
    period = statistics.median(b - a for a, b in zip(series, series[1:], strict=False)) or 1e-3
    threshold = max(SILENCE_PERIODS * period, SILENCE_FLOOR_S)
    return [(a, b) for a, b in zip(series, series[1:], strict=False) if b - a >= threshold]
