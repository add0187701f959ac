"""The vehicle's timeline in the evidence: vehicle time at any capture timestamp, and the periods
during which an owner's switch (an abstract CAN signal) held each state.

Read from the recorded CAN frames alone, so the consent checks judge the same way live and offline."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from harness.net.evidence import CanRecord, Evidence

CLOCK_SIGNAL = "time.vehicle_ms"


class VehicleTime:
    """Vehicle time at capture timestamps, interpolated between the clock frames on CAN.

    On a virtual rig vehicle time runs faster than wall time, so the rate between two clock frames
    is measured rather than assumed; outside the recorded frames the nearest rate extrapolates."""

    def __init__(self, records: list[CanRecord]) -> None:
        points = sorted((r.time, float(r.values[CLOCK_SIGNAL]) / 1000.0) for r in records
                        if isinstance(r.values.get(CLOCK_SIGNAL), int | float))
        self.walls = [w for w, _ in points]
        self.vehicle = [v for _, v in points]

    def __bool__(self) -> bool:
        return bool(self.walls)

    def at(self, wall: float) -> float | None:
        if not self.walls:
            return None
        if len(self.walls) == 1:
            return self.vehicle[0] + (wall - self.walls[0])
        i = min(max(bisect.bisect_right(self.walls, wall), 1), len(self.walls) - 1)
        w0, w1, v0, v1 = self.walls[i - 1], self.walls[i], self.vehicle[i - 1], self.vehicle[i]
        rate = (v1 - v0) / (w1 - w0) if w1 > w0 else 1.0
        return v0 + (wall - w0) * rate

    def seconds(self, earlier: float, later: float) -> float:
        """Vehicle seconds between two capture timestamps (wall seconds without a clock on CAN)."""
        a, b = self.at(earlier), self.at(later)
        return (b - a) if a is not None and b is not None else later - earlier

    def wall_after(self, wall: float, vehicle_seconds: float) -> float:
        """The capture timestamp `vehicle_seconds` of vehicle time after `wall`."""
        start = self.at(wall)
        if start is None:
            return wall + vehicle_seconds
        lo, hi = wall, wall + max(vehicle_seconds, 1e-3)
        for _ in range(64):
            if (self.at(hi) or 0.0) - start >= vehicle_seconds:
                break
            hi = wall + 2 * (hi - wall)
        else:  # a clock that stands still or runs backwards: take the seconds as wall seconds
            return wall + vehicle_seconds
        for _ in range(60):  # bisection: vehicle time is monotonic in wall time
            mid = (lo + hi) / 2
            if (self.at(mid) or 0.0) - start < vehicle_seconds:
                lo = mid
            else:
                hi = mid
        return hi


@dataclass(frozen=True)
class Period:
    """A switch held `state` from `start` up to `end` (capture timestamps); `since_change` says the
    period began with an observed change, not with the first frame of the recording."""

    state: str
    start: float
    end: float
    since_change: bool

    def holds(self, wall: float) -> bool:
        return self.start <= wall < self.end


def switch_periods(evidence: Evidence, signal: str, until: float) -> list[Period]:
    """The states of `signal` over the recording, from its first frame up to `until`."""
    periods: list[Period] = []
    state: str | None = None
    start = 0.0
    changed = False
    for record in evidence.can:
        value = record.values.get(signal)
        if value is None:
            continue
        value = str(value)
        if value == state:
            continue
        if state is not None:
            periods.append(Period(state, start, record.time, changed))
            changed = True
        state, start = value, record.time
    if state is not None:
        periods.append(Period(state, start, max(until, start), changed))
    return periods


def recording_start(evidence: Evidence) -> float:
    """The first timestamp in the evidence, CAN or Ethernet."""
    times = [r.time for r in evidence.can[:1]]
    times += [f.first_time for f in evidence.flows.flows.values()]
    return min(times, default=0.0)


def recording_end(evidence: Evidence) -> float:
    """The last timestamp in the evidence, CAN or Ethernet."""
    times = [r.time for r in evidence.can[-1:]]
    times += [f.last_time for f in evidence.flows.flows.values()]
    return max(times, default=0.0)


def message_of(evidence: Evidence, signal: str) -> str | None:
    """The CAN message that carries `signal`, as the recording names it."""
    return next((r.message for r in evidence.can if signal in r.values), None)
