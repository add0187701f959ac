"""OTA: an interrupted update leaves a vehicle that works, on its previous version."""

import pytest

from harness.checks.ota_outcome import check_rollback
from harness.scenarios.campaign import example_campaign
from harness.scenarios.vehicle_states import power_cycle, supply_dip

ENDED = {"Completed", "Failed", "RolledBack"}


def _forty_percent_installed(values):
    return values.get("ota.status.state") == "Installing" and int(values.get("ota.status.progress_pct", 0)) >= 40


@pytest.mark.clause("ota.rollback")
def test_interrupted_installation_keeps_a_working_vehicle(bus, vehicle, hmi, ota_backend, vecu, fast_forward, judge):
    """Forty per cent into a 20-minute installation the low-voltage supply collapses to 7.5 V and
    comes back; the update is offered again and, forty per cent in, the ECU loses power outright and
    is switched on again. Expect each update to end with the vehicle on its previous (or the complete
    new) software version, and driving possible again."""
    for campaign_id, interrupt in ((4601, lambda: supply_dip(vehicle, bus.monitor)),
                                   (4602, lambda: power_cycle(vecu, vehicle))):
        campaign = ota_backend.offer(example_campaign(campaign_id, duration_min=20))
        hmi.wait_for_notice(campaign.campaign_id)
        hmi.accept(campaign.campaign_id)
        # 20-second steps: a jump can run a little ahead of the ECU, never past the installation's end
        fast_forward.until(_forty_percent_installed, 3600, step_s=20)
        interrupt()
        hmi.wait_for_state(ENDED, timeout_vehicle_s=3600)
        fast_forward.run(120)
        ota_backend.withdraw(campaign.campaign_id)
    judge(check_rollback)
