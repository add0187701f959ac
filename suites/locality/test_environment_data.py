"""Data locality of environment data: what the exterior camera sees of roads and buildings."""

import pytest

from harness.checks.environment import check_environment_locality
from harness.scenarios.drive import DriveCycle, play
from harness.scenarios.strategies import drives_opted_in


@pytest.mark.clause("locality.environment-data")
def test_road_imagery_stays_in_jurisdiction(rig, policy, vehicle, vecu, explore, judge):
    """The owner shares location, so the exterior camera contributes road snapshots to map updates
    while the vehicle drives generated routes into and out of cities. Expect no exterior imagery to
    leave the jurisdiction, beyond what the profile lets an approved export cover."""
    explore.run(drives_opted_in(policy.netmap.consents), lambda cycle: play(cycle, vehicle, rig.clock),
                describe=DriveCycle.describe)
    judge(check_environment_locality)
