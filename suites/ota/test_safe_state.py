"""OTA: an update installs only while the vehicle is in a safe state, and cannot be driven meanwhile."""

import pytest

from harness.checks.ota_inhibit import check_drive_inhibit
from harness.checks.ota_safety import check_safe_state
from harness.scenarios.campaign import example_campaign
from harness.scenarios.vehicle_states import MOTION, put, situation

ENDED = {"Completed", "Failed", "RolledBack"}


def _installed(percent):
    return lambda v: v.get("ota.status.state") != "Installing" or int(v.get("ota.status.progress_pct", 0)) >= percent


@pytest.mark.clause("ota.safe-state")
def test_installation_waits_for_a_safe_state(bus, vehicle, hmi, ota_backend, vecu, fast_forward, judge):
    """The owner accepts an update while driving at 50 km/h and drives on for half an hour; then parks
    in P with the parking brake applied but only 12 % state of charge (the campaign needs 30 %); half
    an hour later plugs in the charging cable. Expect the installation to wait while driving and while
    the energy is low, the owner shown why, and to begin only once parked and charging."""
    put(vehicle, "driving", bus.monitor)
    campaign = ota_backend.offer(example_campaign(duration_min=20))
    hmi.wait_for_notice(campaign.campaign_id)
    hmi.accept(campaign.campaign_id)
    fast_forward.run(30 * 60)
    put(vehicle, "parked-low-energy", bus.monitor)
    fast_forward.run(30 * 60)
    put(vehicle, "charging-low-energy", bus.monitor)
    hmi.wait_for_state(ENDED, timeout_vehicle_s=3600)
    judge(check_safe_state, situations={**situation("driving", MOTION), **situation("parked-low-energy"),
                                        **situation("charging-low-energy")})


@pytest.mark.clause("ota.drive-inhibit")
def test_driving_inhibited_during_installation(bus, vehicle, hmi, ota_backend, vecu, fast_forward, judge):
    """A 20-minute update installs in a parked vehicle; half-way through, the driver releases the
    parking brake and selects D. Expect driving inhibited, with the update as the reason shown, for
    the whole installation and activation."""
    campaign = ota_backend.offer(example_campaign(duration_min=20))
    hmi.wait_for_notice(campaign.campaign_id)
    hmi.accept(campaign.campaign_id)
    # through the installation in 20-second steps, so every moment of it is on the bus
    fast_forward.until(lambda v: v.get("ota.status.state") == "Installing"
                       and int(v.get("ota.status.progress_pct", 0)) >= 50, 3600, step_s=20)
    put(vehicle, "stopped-in-drive", bus.monitor)
    # into and through activation without jumps (a jump overshoots when the ECU is slow to show its
    # progress), the last of it at a slower clock: on the bus long enough for its frames to be judged
    fast_forward.until(_installed(80), 3600, step_s=5)
    with fast_forward.slow(100.0):
        fast_forward.until(_installed(97), 600)
    with fast_forward.slow(40.0):
        fast_forward.state_in(ENDED, 600)
    judge(check_drive_inhibit, situations=situation("stopped-in-drive", MOTION))
