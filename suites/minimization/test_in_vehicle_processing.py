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


WITHOUT_SETTINGS_S = 30.0  # vehicle seconds the ECU runs before the switches reach it: longer than the
                           # vehicle takes to upload cabin and voice data once allowed (the check confirms it)
ALLOWED_S = 25.0           # then, every switch on, long enough for the vehicle to show it uploads them
PACE = 20.0                # vehicle time at most this fast: the uploads it judges take wall time on the network


@pytest.mark.clause("minimization.in-vehicle-processing")
@pytest.mark.withheld()  # the owner's privacy switches stay off the bus from before the ECU starts
def test_cabin_data_stays_in_the_vehicle_before_the_settings_arrive(rig, vehicle, withheld, vecu, judge):
    """Before the owner's privacy settings have reached the telematics unit (the HMI comes up some 30 s after it,
    the vehicle driving with the ignition on), cabin images, face data and voice stay in the vehicle; then
    every switch appears on. Expect no cabin or voice upload while no switch setting has been on the bus,
    the vehicle seen sending then and uploading them once allowed."""
    # slowed until the recording ends, so the pace of uploads the check measures is the one it judges by
    with rig.clock.slowed(min(rig.clock.scale, PACE)):
        vehicle.drive(30.0)
        rig.clock.sleep(WITHOUT_SETTINGS_S)
        vehicle.consent(location=True, cabin_camera=True, voice=True)
        withheld.release()
        rig.clock.sleep(ALLOWED_S)
        judge(check_in_vehicle_processing, before_settings={
            "driving, ignition on, no privacy setting received": {"vehicle.ignition": "On", "vehicle.gear": "D"}})


@pytest.mark.clause("minimization.in-vehicle-processing")
def test_cabin_data_stays_in_the_vehicle_while_the_settings_read_not_available(rig, vehicle, vecu, judge):
    """The HMI reports the cabin camera and voice settings as not available (SNA) for half a minute of
    driving with the ignition on, then as on. Expect no cabin or voice upload while they read not
    available, the vehicle seen sending then."""
    with rig.clock.slowed(min(rig.clock.scale, PACE)):
        vehicle.set_now("settings-not-available", **{"consent.cabin_camera": "SNA", "consent.voice": "SNA"})
        vehicle.drive(30.0)
        rig.clock.sleep(WITHOUT_SETTINGS_S)
        vehicle.consent(cabin_camera=True, voice=True)
        rig.clock.sleep(ALLOWED_S)
        judge(check_in_vehicle_processing, situations={"driving, ignition on, settings not available": {
            "vehicle.ignition": "On", "vehicle.gear": "D", "consent.cabin_camera": "SNA", "consent.voice": "SNA"}})
