"""The precision suite's drives always give its check enough evidence: whatever the seed, positions
sampled along them and snapped to the reference vECU's grid take at least the distinct values per
axis the check needs, so a compliant vehicle is never `inconclusive` by chance."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks.precision import METRES_PER_DEGREE, SLACK, grid_step
from harness.scenarios.drive import DriveCycle, Leg
from harness.scenarios.strategies import drives_across_grid
from harness.vecu.privacy import coarsen

PRECISION_M = 100.0  # the map service's declared precision on the virtual rig: the coarsest there
SAMPLE_S = 10.0      # the reference vECU's map snapshots: one every 10 s of driving
NEEDED = 5           # neighbouring differences per axis the check asks for (min_positions 6)


def sampled(cycle: DriveCycle, period: float, phase: float) -> list[tuple[float, float]]:
    """Positions along the cycle every `period` seconds from `phase`, as a sampling sender sees them."""
    position, t, due, out = cycle.start, 0.0, phase, []
    for step in cycle.steps:
        assert isinstance(step, Leg)
        end = step.end(position)
        while due < t + step.duration_s:
            f = (due - t) / step.duration_s
            out.append((position.latitude + f * (end.latitude - position.latitude),
                        position.longitude + f * (end.longitude - position.longitude)))
            due += period
        position, t = end, t + step.duration_s
    return out


@settings(max_examples=100, deadline=None)
@given(drives_across_grid(cell_m=2 * PRECISION_M), st.floats(0, SAMPLE_S, exclude_max=True))
def test_one_drive_alone_gives_the_check_enough_distinct_positions(cycle: DriveCycle, phase: float) -> None:
    legs = [s for s in cycle.steps if isinstance(s, Leg)]
    assert len(legs) == len(cycle.steps) and all(30 <= s.bearing_deg % 90 <= 60 for s in legs)
    assert len({s.bearing_deg // 90 for s in legs}) == 1  # one quadrant: no axis turns back
    points = [coarsen(lat, lon, PRECISION_M) for lat, lon in sampled(cycle, SAMPLE_S, phase)]
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    cos_lat = math.cos(math.radians(sum(lats) / len(lats)))
    lat_fit = grid_step(lats, SLACK * PRECISION_M / METRES_PER_DEGREE)
    lon_fit = grid_step(lons, SLACK * PRECISION_M / (METRES_PER_DEGREE * cos_lat))
    assert lat_fit.step is not None and lon_fit.step is not None  # the compliant grid is recognised
    assert min(lat_fit.differences, lon_fit.differences) >= NEEDED


@settings(max_examples=20, deadline=None)
@given(drives_across_grid(cell_m=50.0, cells=2, min_kph=100, max_kph=100))
def test_a_drive_ends_once_both_axes_are_crossed(cycle: DriveCycle) -> None:
    assert len(cycle.steps) == 1  # one leg at 100 km/h for 15 s or more covers over 200 m on each axis
