"""Data minimization by purpose: each endpoint receives only the data categories its declared
purpose names."""

import pytest

from harness.checks.minimization import check_minimization
from harness.scenarios.drive import DriveCycle, play
from harness.scenarios.strategies import drives_with_switches


@pytest.mark.clause("minimization.declared-purpose")
def test_each_endpoint_receives_only_its_declared_categories(rig, policy, vehicle, vecu, explore, judge):
    """The vehicle drives generated routes while the owner switches location sharing, cabin camera
    and voice upload on and off at generated times, so every connected service runs for a while.
    Expect every destination to receive only the categories its declared purpose (or approved
    export) names, and cabin, face and voice data only where a purpose declares them."""
    explore.run(drives_with_switches(policy.netmap.consents), lambda cycle: play(cycle, vehicle, rig.clock),
                describe=DriveCycle.describe)
    judge(check_minimization, expect_sent=["vehicle_state"])
