"""Precision limited to the purpose: positions leave the vehicle no finer than each endpoint's
declared purpose needs."""

import pytest

from harness.checks.precision import check_precision
from harness.scenarios.drive import DriveCycle, play
from harness.scenarios.strategies import drives_across_grid, opted_in

# A sender may snap longitude to a degree grid twice as wide as latitude's, so that it stays no
# finer than the declared precision up to 60 degrees of latitude: drives cross cells that wide.
LONGITUDE_STRETCH = 2.0
CELLS = 10  # per axis and drive; the check needs 6 distinct values on each axis, crossing 10 leaves margin


@pytest.mark.clause("minimization.precision")
def test_positions_no_finer_than_each_purpose_declares(rig, policy, vehicle, vecu, explore, judge):
    """The owner shares location and drives generated routes at generated speeds, diagonally across
    the grid lines, each drive crossing ten cells of twice the coarsest declared precision on both
    axes. Expect every position sent to an endpoint whose purpose declares a location precision to
    be no finer than that precision."""
    # with no precision declared there is nothing to judge, and the check says so
    coarsest = max((p.location_precision_m for p in policy.netmap.purposes
                    if "location" in p.categories and p.location_precision_m is not None), default=0.0)
    cycles = opted_in(drives_across_grid(cell_m=LONGITUDE_STRETCH * coarsest, cells=CELLS),
                      policy.netmap.consents)
    explore.run(cycles, lambda cycle: play(cycle, vehicle, rig.clock), describe=DriveCycle.describe)
    judge(check_precision)
