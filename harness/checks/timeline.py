"""The vehicle's timeline in the evidence: vehicle time at any capture timestamp, and the periods
during which an owner's switch (an abstract CAN signal) held each state.

Read from the recorded CAN frames alone, so the consent checks judge the same way live and offline."""

from __future__ import annotations

from dataclasses import dataclass

from harness.net.evidence import Evidence
from harness.net.vehicle_time import CLOCK_SIGNAL, VehicleTime

__all__ = ["CLOCK_SIGNAL", "Period", "VehicleTime"]

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
