"""OTA: the owner is told whether an update completed."""

import pytest

from harness.checks.ota_outcome import check_result_notice
from harness.scenarios.campaign import example_campaign

ENDED = {"Completed", "Failed", "RolledBack"}


@pytest.mark.clause("ota.result-notice")
def test_owner_told_whether_the_update_completed(hmi, ota_backend, vecu, fast_forward, judge):
    """An accepted update fails when the network drops half-way through the package download and
    stays down; the re-issued update then installs. Expect the owner's screen to show that the first
    failed, and why, and that the second completed."""
    for campaign, faults in ((example_campaign(4701, duration_min=20), ("network-down",)),
                             (example_campaign(4702, duration_min=20), ())):
        ota_backend.offer(campaign, *faults)
        hmi.wait_for_notice(campaign.campaign_id)
        hmi.accept(campaign.campaign_id)
        hmi.wait_for_state(ENDED, timeout_vehicle_s=3 * 3600)
        fast_forward.run(60)
        ota_backend.withdraw(campaign.campaign_id)
    judge(check_result_notice, expected=["Failed", "Success"])
