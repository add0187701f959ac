"""Precision limited to the purpose: positions leave the vehicle no finer than each endpoint's
declared purpose needs."""

import pytest

from harness.checks.precision import check_precision
from harness.scenarios.drive import DriveCycle, play
from harness.scenarios.strategies import drives_opted_in


@pytest.mark.clause("minimization.precision")
def test_positions_no_finer_than_each_purpose_declares(rig, policy, vehicle, vecu, explore, judge):
    """The owner shares location and drives generated routes at generated speeds, across the grid
    lines in both directions. Expect every position sent to an endpoint whose purpose declares a
    location precision to be no finer than that precision."""
    cycles = drives_opted_in(policy.netmap.consents, min_kph=40.0, diagonal=True, stops=False)
    explore.run(cycles, lambda cycle: play(cycle, vehicle, rig.clock), describe=DriveCycle.describe)
    judge(check_precision)
