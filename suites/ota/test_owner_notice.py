"""OTA: before an update the owner is told what it does, how long it takes and what to watch for."""

import pytest

from harness.checks.ota_notice import check_notice
from harness.scenarios.campaign import example_campaign


@pytest.mark.clause("ota.notice")
def test_notice_before_download_matches_campaign(vehicle, hmi, ota_backend, vecu, fast_forward, judge):
    """A 20-minute update is offered to a parked vehicle and the owner accepts it once the notice is on
    screen. Expect the notice (purpose, content, estimated duration, cautions, unavailable functions,
    target version) to match the campaign the backend sent, and to be complete before the package is
    downloaded and before the installation starts."""
    campaign = ota_backend.offer(example_campaign(duration_min=20))
    hmi.wait_for_notice(campaign.campaign_id)
    hmi.accept(campaign.campaign_id)
    hmi.wait_for_state({"Installing", "Completed", "Failed", "RolledBack"}, timeout_vehicle_s=1800)
    judge(check_notice, campaign_id=campaign.campaign_id)
