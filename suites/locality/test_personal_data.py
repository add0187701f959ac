"""Data locality of personal information: position, cabin imagery, face template, voice recordings
and the owner's identity stay on endpoints inside the jurisdiction."""

import pytest

from harness.checks.locality import check_locality
from harness.scenarios.drive import DriveCycle, play
from harness.scenarios.strategies import drives_opted_in


@pytest.mark.clause("locality.regulated-data")
def test_personal_data_stays_in_jurisdiction(rig, policy, vehicle, vecu, explore, judge):
    """The owner has switched every privacy switch on (location, cabin camera, voice) and drives
    generated routes into and out of cities. Expect no position, cabin image, face template,
    recording or identity to reach an endpoint outside the jurisdiction unless an approved export
    covers it."""
    explore.run(drives_opted_in(policy.netmap.consents), lambda cycle: play(cycle, vehicle, rig.clock),
                describe=DriveCycle.describe)
    judge(check_locality, expect_sent=["location", "cabin_imagery", "biometric", "audio", "personal_identity"])
