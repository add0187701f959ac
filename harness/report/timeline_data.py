"""What a test's timeline shows, taken from its evidence alone: the vehicle's signals as the capture's
CAN frames carry them, the vehicle's egress per destination, and the findings, on one vehicle-time axis.

Nothing comes from the ECU's account of itself, so the picture of a replayed bundle is the live one."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from harness.findings import Finding
from harness.net.evidence import Evidence
from harness.net.flows import Flow
from harness.net.payloads import describe
from harness.policy.netmap import Netmap

# (abstract signal, label, unit) of the numeric lanes, and (signal, label) of the state lanes, top to bottom
SERIES = (("vehicle.speed_kph", "speed", "km/h"), ("battery.soc_pct", "state of charge", "%"))
STATES = (("vehicle.gear", "gear"), ("vehicle.parking_brake", "parking brake"), ("ota.status.state", "OTA state"))
SWITCH_PREFIX = "consent."  # the owner's privacy switches, however many the mapping names
INHIBIT, INHIBIT_REASON = "ota.inhibit.request", "ota.inhibit.reason"
UNDECODABLE = "undecodable"


@dataclass(frozen=True)
class Segment:
    start: float
    end: float
    value: str


@dataclass(frozen=True)
class StateLane:
    label: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class Series:
    label: str
    unit: str
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class EgressMark:
    """One message (or, where nothing was decoded, one connection) the vehicle sent to a destination."""

    time: float
    categories: tuple[str, ...]
    protocol: str
    decodable: bool
    port: int


@dataclass(frozen=True)
class Destination:
    address: str
    names: tuple[str, ...]
    region: str
    marks: tuple[EgressMark, ...]


@dataclass(frozen=True)
class FindingMark:
    time: float | None  # None: the finding concerns the whole test, not a moment
    verdict: str
    check: str
    dst: str
    detail: str


@dataclass(frozen=True)
class Timeline:
    start: float  # axis origin: the first record of the evidence, in vehicle (or capture) seconds
    end: float
    vehicle_clock: bool  # False: no clock frames on CAN, so the axis is capture time
    series: tuple[Series, ...]
    states: tuple[StateLane, ...]
    switches: tuple[StateLane, ...]
    destinations: tuple[Destination, ...]
    findings: tuple[FindingMark, ...]

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({d.region for d in self.destinations}))

    @property
    def categories(self) -> tuple[str, ...]:
        return tuple(sorted({c for d in self.destinations for m in d.marks for c in m.categories}))


def build_timeline(evidence: Evidence, findings: Iterable[Finding], netmap: Netmap | None = None) -> Timeline:
    """The timeline of one test; `netmap` places destinations in regions and tells the vehicle's addresses."""
    clock = evidence.clock

    def at(wall: float) -> float:
        vehicle = clock.at(wall) if clock else None
        return vehicle if vehicle is not None else wall

    can = [(at(r.time), r.values) for r in evidence.can]
    destinations = _destinations(evidence, netmap, at)
    marks = [_finding(f, at) for f in findings]
    times = [t for t, _ in can] + [m.time for d in destinations for m in d.marks]
    times += [m.time for m in marks if m.time is not None]
    start, end = (min(times), max(times)) if times else (0.0, 1.0)
    if end <= start:
        end = start + 1.0
    switch_names = sorted({k for _, values in can for k in values if k.startswith(SWITCH_PREFIX)})
    return Timeline(
        start, end, bool(clock),
        tuple(Series(label, unit, _points(can, signal)) for signal, label, unit in SERIES),
        tuple(StateLane(label, _segments(can, signal)) for signal, label in STATES)
        + (StateLane("drive inhibit", _inhibit(can)),),
        tuple(StateLane(name.removeprefix(SWITCH_PREFIX), _segments(can, name)) for name in switch_names),
        destinations, tuple(marks))


Values = dict[str, float | int | str]
_Clock = Callable[[float], float]  # capture timestamp -> axis seconds


def _points(can: Sequence[tuple[float, Values]], signal: str) -> tuple[tuple[float, float], ...]:
    return tuple((t, float(v[signal])) for t, v in can if isinstance(v.get(signal), int | float))


def _segments(can: Sequence[tuple[float, Values]], signal: str) -> tuple[Segment, ...]:
    """Runs of one value: each lasts from the frame that showed it to the frame that showed the next."""
    return _runs([(t, str(v[signal])) for t, v in can if signal in v])


def _inhibit(can: Sequence[tuple[float, Values]]) -> tuple[Segment, ...]:
    samples = []
    for t, v in can:
        if INHIBIT in v:
            requested = v[INHIBIT] not in (0, "0", 0.0)
            samples.append((t, f"inhibited ({v.get(INHIBIT_REASON, '?')})" if requested else "free"))
    return _runs(samples)


def _runs(samples: Sequence[tuple[float, str]]) -> tuple[Segment, ...]:
    runs: list[Segment] = []
    for t, value in samples:
        if runs and runs[-1].value == value:
            runs[-1] = Segment(runs[-1].start, t, value)
        else:
            if runs:
                runs[-1] = Segment(runs[-1].start, t, runs[-1].value)
            runs.append(Segment(t, t, value))
    return tuple(runs)


def _destinations(evidence: Evidence, netmap: Netmap | None, at: _Clock) -> tuple[Destination, ...]:
    by_address: dict[str, list[EgressMark]] = {}
    for flow in evidence.flows.flows.values():
        if netmap is not None and not netmap.is_vehicle(flow.client.address):
            continue  # only what the vehicle sends out
        by_address.setdefault(flow.server.address, []).extend(_marks(flow, at))
    lanes = []
    for address, marks in by_address.items():
        names = evidence.names_of(address)
        region = netmap.region_of(address, names) if netmap is not None else "unknown"
        lanes.append(Destination(address, names, region, tuple(sorted(marks, key=lambda m: m.time))))
    return tuple(sorted(lanes, key=lambda d: (d.marks[0].time if d.marks else 0.0, d.address)))


def _marks(flow: Flow, at: _Clock) -> list[EgressMark]:
    payload = describe(flow)
    port = flow.server.port
    if payload.items:
        return [EgressMark(at(item.time), tuple(sorted(item.categories)), item.protocol, True, port)
                for item in payload.items]
    # a connection that carried nothing decoders could name still went somewhere: one mark for it
    categories = () if payload.decodable else (UNDECODABLE,)
    return [EgressMark(at(flow.first_time), categories, payload.protocol, payload.decodable, port)]


def _finding(finding: Finding, at: _Clock) -> FindingMark:
    return FindingMark(at(finding.time) if finding.time is not None else None, finding.verdict.value,
                       finding.check, finding.dst, finding.detail)
