"""Vehicle time at capture timestamps, from the GlobalTimeSync frames recorded on CAN.

Part of observation: every check and report converts capture time to vehicle time the same way."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping
from typing import Protocol

CLOCK_SIGNAL = "time.vehicle_ms"


class _Record(Protocol):
    """A recorded CAN frame as the evidence holds it (harness.net.evidence.CanRecord)."""

    @property
    def time(self) -> float: ...

    @property
    def values(self) -> Mapping[str, float | int | str]: ...


class VehicleTime:
    """Vehicle time at capture timestamps, interpolated between the clock frames on CAN.

    On a virtual rig vehicle time runs faster than wall time, so the rate between two clock frames
    is measured rather than assumed; outside the recorded frames the nearest rate extrapolates."""

    def __init__(self, records: Iterable[_Record]) -> None:
        points = sorted((r.time, float(r.values[CLOCK_SIGNAL]) / 1000.0) for r in records
                        if isinstance(r.values.get(CLOCK_SIGNAL), int | float))
        self.walls = [w for w, _ in points]
        self.vehicle = [v for _, v in points]

    def __bool__(self) -> bool:
        return bool(self.walls)

    def jumps_back(self) -> list[tuple[float, float]]:
        """(capture time, seconds) of every clock frame that reads earlier than the one before it: a
        clock that went backwards cannot measure how long anything took."""
        return [(self.walls[i], self.vehicle[i - 1] - self.vehicle[i]) for i in range(1, len(self.walls))
                if self.vehicle[i] < self.vehicle[i - 1]]

    def at(self, wall: float) -> float | None:
        if not self.walls:
            return None
        if len(self.walls) == 1:
            return self.vehicle[0] + (wall - self.walls[0])
        i = min(max(bisect.bisect_right(self.walls, wall), 1), len(self.walls) - 1)
        w0, w1, v0, v1 = self.walls[i - 1], self.walls[i], self.vehicle[i - 1], self.vehicle[i]
        rate = (v1 - v0) / (w1 - w0) if w1 > w0 else 1.0
        return v0 + (wall - w0) * rate

    def read(self, wall: float) -> float | None:
        """What a node on the bus could know of vehicle time at `wall`: the value of the last clock
        frame at or before it, not interpolated (across a jump of the clock that runs ahead of every
        node)."""
        i = bisect.bisect_right(self.walls, wall) - 1
        return self.vehicle[i] if i >= 0 else None

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
