"""Hypothesis strategies for the suites: drive cycles into and out of cities at generated speeds with
parking stops, and the owner's privacy switches toggled at generated times.

Which switches exist comes from the rig's netmap, so a rig with other switches gets other cycles;
every cycle is bounded in vehicle time, because each one is played on a live rig."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hypothesis import strategies as st

from harness.policy.netmap import ConsentSwitch
from harness.scenarios.drive import DriveCycle, Leg, Stop, Toggle
from harness.scenarios.vehicle import Waypoint

# City centres inside the jurisdiction of the default profile; cycles start in or around them.
CITIES = {
    "Shanghai": Waypoint(31.2304, 121.4737),
    "Beijing": Waypoint(39.9042, 116.4074),
    "Shenzhen": Waypoint(22.5431, 114.0579),
    "Chengdu": Waypoint(30.5728, 104.0668),
    "Wuhan": Waypoint(30.5928, 114.3055),
}
MIN_SWITCH_GAP_S = 20.0  # the switches travel on CAN every 10 s of vehicle time on the virtual rig


def _offset(centre: Waypoint, bearing_deg: float, distance_m: float) -> Waypoint:
    return Leg(bearing_deg, distance_m / (50 / 3.6), 50).end(centre)


@st.composite
def drive_cycles(draw: st.DrawFn, *, min_s: float = 60.0, max_s: float = 120.0, min_kph: float = 20.0,
                 max_kph: float = 120.0, diagonal: bool = False, stops: bool = True) -> DriveCycle:
    """A cycle of `min_s`..`max_s` vehicle seconds: either out of a city centre (starting within 2 km
    of it, heading away) or into it (starting 5-15 km out, heading towards it), legs of 15-45 s at
    generated speeds, parking stops between them. `diagonal` keeps bearings away from the axes so
    that latitude and longitude both change on every leg."""
    city = draw(st.sampled_from(sorted(CITIES)))
    centre = CITIES[city]
    outbound = draw(st.booleans())
    around = draw(st.floats(0, 360, exclude_max=True))
    start = _offset(centre, around, draw(st.floats(0, 2_000) if outbound else st.floats(5_000, 15_000)))
    heading = around if outbound else (around + 180) % 360
    steps: list[Leg | Stop] = []
    total = 0.0
    while total < min_s:
        duration = min(draw(st.floats(15, 45)), max_s - total)
        bearing = (heading + draw(st.floats(-40, 40))) % 360
        if diagonal:
            bearing = 90 * (bearing // 90) + min(max(bearing % 90, 20), 70)
        steps.append(Leg(bearing, duration, draw(st.floats(min_kph, max_kph))))
        total += duration
        if stops and total < min_s and draw(st.booleans()):
            stop = min(draw(st.floats(5, 20)), max_s - total)
            steps.append(Stop(stop))
            total += stop
    return DriveCycle(city, start, tuple(steps))


@st.composite
def switch_schedules(draw: st.DrawFn, switches: Sequence[ConsentSwitch], *, span_s: float,
                     min_changes: int = 2, max_changes: int = 4) -> tuple[Toggle, ...]:
    """For every switch: On, Off, On ... at generated times within `span_s`, at least
    MIN_SWITCH_GAP_S apart, starting from Off and including at least one withdrawal (On, then Off)."""
    toggles: list[Toggle] = []
    for switch in switches:
        changes = draw(st.integers(min_changes, max_changes))
        budget = span_s - MIN_SWITCH_GAP_S * changes  # the last change leaves a gap before the end, too
        cuts = sorted(draw(st.lists(st.floats(0, max(budget, 0.0)), min_size=changes, max_size=changes)))
        for i, cut in enumerate(cuts):
            toggles.append(Toggle(round(cut + MIN_SWITCH_GAP_S * i + 5.0, 1), switch.signal, on=i % 2 == 0))
    return tuple(sorted(toggles, key=lambda t: (t.at_s, t.signal)))


@st.composite
def drives_with_switches(draw: st.DrawFn, switches: Sequence[ConsentSwitch], *, min_s: float = 100.0,
                         max_s: float = 140.0) -> DriveCycle:
    """A drive cycle during which the owner toggles every one of `switches` at generated times."""
    cycle = draw(drive_cycles(min_s=min_s, max_s=max_s))
    span = max(min_s, math.floor(cycle.duration_s))
    toggles = draw(switch_schedules(switches, span_s=span))
    return DriveCycle(cycle.city, cycle.start, cycle.steps, toggles)


@st.composite
def drives_across_grid(draw: st.DrawFn, *, cell_m: float, cells: int = 10, min_kph: float = 60.0,
                       max_kph: float = 130.0, max_legs: int = 40) -> DriveCycle:
    """A drive that crosses at least `cells` grid cells of `cell_m` metres north-south and as many
    east-west, so that positions sampled along it, however a sender snaps them to a grid of up to
    `cell_m`, take enough distinct values on both axes to tell a grid from chance. Legs of 15-45 s
    keep to one quadrant (neither axis turns back over cells already crossed) at 30-60 degrees off
    the axes (each axis moves at least half the speed); legs are added until both extents are
    reached, so no seed draws a drive too short to judge."""
    city = draw(st.sampled_from(sorted(CITIES)))
    quadrant = 90 * draw(st.integers(0, 3))
    start = _offset(CITIES[city], draw(st.floats(0, 360, exclude_max=True)), draw(st.floats(0, 5_000)))
    need = cells * cell_m
    north = east = 0.0
    steps: list[Leg | Stop] = []
    while not steps or min(north, east) < need:
        if len(steps) >= max_legs:  # unreachable with the bounds above: say so rather than loop
            raise ValueError(f"{max_legs} legs did not cross {cells} cells of {cell_m:g} m")
        leg = Leg(quadrant + draw(st.floats(30, 60)), draw(st.floats(15, 45)), draw(st.floats(min_kph, max_kph)))
        distance = leg.speed_kph / 3.6 * leg.duration_s
        north += abs(distance * math.cos(math.radians(leg.bearing_deg)))
        east += abs(distance * math.sin(math.radians(leg.bearing_deg)))
        steps.append(leg)
    return DriveCycle(city, start, tuple(steps))


def drives_opted_in(switches: Sequence[ConsentSwitch], *, min_kph: float = 20.0, diagonal: bool = False,
                    stops: bool = True) -> st.SearchStrategy[DriveCycle]:
    """Drive cycles of an owner who switched every one of `switches` on before setting off."""
    return opted_in(drive_cycles(min_kph=min_kph, diagonal=diagonal, stops=stops), switches)


def opted_in(cycles: st.SearchStrategy[DriveCycle],
             switches: Sequence[ConsentSwitch]) -> st.SearchStrategy[DriveCycle]:
    """The same drives, by an owner who switched every one of `switches` on before setting off."""
    signals = tuple(s.signal for s in switches)
    return cycles.map(lambda c: DriveCycle(c.city, c.start, c.steps, c.toggles, signals))
