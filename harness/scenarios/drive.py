"""Drive cycles as data, and their playback on the rig: legs at a bearing and speed, stops, and the
owner's privacy switches changed at given times, all in vehicle time.

Hypothesis generates these (scenarios/strategies.py); tests play them through the `vehicle` verbs,
so a cycle reads the same in the scenario log as a hand-written one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.scenarios.clock import VehicleClock
from harness.scenarios.vehicle import Vehicle, Waypoint

EARTH_M = 6_371_000.0


@dataclass(frozen=True)
class Leg:
    """Drive `duration_s` seconds at `speed_kph` towards `bearing_deg` (0 north, 90 east)."""

    bearing_deg: float
    duration_s: float
    speed_kph: float

    def end(self, start: Waypoint) -> Waypoint:
        distance = self.speed_kph / 3.6 * self.duration_s
        bearing = math.radians(self.bearing_deg)
        dlat = distance * math.cos(bearing) / EARTH_M
        dlon = distance * math.sin(bearing) / (EARTH_M * math.cos(math.radians(start.latitude)))
        return Waypoint(round(start.latitude + math.degrees(dlat), 7), round(start.longitude + math.degrees(dlon), 7))


@dataclass(frozen=True)
class Stop:
    """Park (gear P, parking brake applied) for `duration_s` seconds."""

    duration_s: float


@dataclass(frozen=True)
class Toggle:
    """At `at_s` seconds into the cycle the owner sets switch `signal` (e.g. consent.location)."""

    at_s: float
    signal: str
    on: bool


@dataclass(frozen=True)
class DriveCycle:
    city: str
    start: Waypoint
    steps: tuple[Leg | Stop, ...]
    toggles: tuple[Toggle, ...] = ()
    switches_on: tuple[str, ...] = field(default=())  # switches the owner turned on before setting off

    @property
    def duration_s(self) -> float:
        driving = sum(s.duration_s for s in self.steps)
        return max([driving] + [t.at_s for t in self.toggles])

    def describe(self) -> dict[str, object]:
        """A JSON-able account for the scenario log and the report."""
        return {
            "city": self.city, "start": [self.start.latitude, self.start.longitude],
            "steps": [{"leg": [round(s.bearing_deg), round(s.duration_s), round(s.speed_kph)]}
                      if isinstance(s, Leg) else {"stop": round(s.duration_s)} for s in self.steps],
            "toggles": [[round(t.at_s, 1), t.signal, "On" if t.on else "Off"] for t in self.toggles],
            "switches_on": list(self.switches_on),
        }


SETTLE_SCALE = 5.0   # vehicle time runs at most this fast right after a withdrawal (at 10x, a stall of
                     # 0.2 s wall on a loaded machine is the 2 s latency exceeded) ...
SETTLE_S = 4.0       # ... for this many vehicle seconds


def settle(clock: VehicleClock) -> None:
    """Let the seconds after a consent withdrawal pass slowly: the rule allows a latency of seconds of
    vehicle time, which at the virtual rig's full speed would be a few milliseconds of wall time, less
    than a loaded machine may keep the ECU from reading the bus. A real vehicle gets real seconds."""
    with clock.slowed(min(clock.scale, SETTLE_SCALE)):
        clock.sleep(SETTLE_S)


def play(cycle: DriveCycle, vehicle: Vehicle, clock: VehicleClock, *, tail_s: float = 0.0) -> None:
    """Reset the vehicle at the cycle's start, drive its steps and apply its toggles on time, then
    park and let `tail_s` more seconds pass."""
    vehicle.reset(cycle.start)
    if cycle.switches_on:
        vehicle.set("consent", **{signal: "On" for signal in cycle.switches_on})
    events: list[tuple[float, int, Leg | Stop | Toggle]] = []
    at, position = 0.0, cycle.start
    for step in cycle.steps:
        events.append((at, 1, step))
        at += step.duration_s
    events += [(t.at_s, 0, t) for t in cycle.toggles]
    began = clock.now()
    for when, _, event in sorted(events, key=lambda e: (e[0], e[1])):
        clock.sleep(began + when - clock.now())
        if isinstance(event, Toggle):
            vehicle.set("consent", **{event.signal: "On" if event.on else "Off"})
            if not event.on:
                settle(clock)
        elif isinstance(event, Leg):
            end = event.end(position)
            vehicle.drive_route([position, end], event.speed_kph)
            position = end
        else:
            vehicle.park()
    clock.sleep(began + cycle.duration_s - clock.now())
    vehicle.park()
    clock.sleep(tail_s)
