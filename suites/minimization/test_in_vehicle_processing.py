"""In-vehicle processing by default: cabin camera, face and voice data serve their functions inside
the vehicle and are not collected off-board unless the owner asks for it."""

import pytest

from harness.checks.consent import check_in_vehicle_processing
from harness.scenarios.drive import DriveCycle, play
from harness.scenarios.strategies import drives_with_switches


@pytest.mark.clause("minimization.in-vehicle-processing")
def test_cabin_face_and_voice_stay_in_the_vehicle_by_default(rig, policy, profile, vehicle, vecu, explore, judge):
    """The vehicle keeps its factory privacy settings for the cabin camera and voice while driver
    monitoring watches the driver and the driver speaks to the assistant on generated drives; the
    owner only toggles the other switches. Expect no cabin image, face template or voice recording
    to leave the vehicle, the vehicle seen sending while it drives with the ignition on."""
    others = [s for s in policy.netmap.consents if not s.categories & profile.consent_required_categories]
    explore.run(drives_with_switches(others), lambda cycle: play(cycle, vehicle, rig.clock),
                describe=DriveCycle.describe)
    judge(check_in_vehicle_processing, situations={"driving, ignition on": {"vehicle.ignition": "On",
                                                                            "vehicle.gear": "D"}})
