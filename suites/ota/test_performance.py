"""OTA: an update changes vehicle performance only as its campaign discloses."""

import time

import pytest

from harness.checks.ota_performance import check_performance_disclosure
from harness.scenarios.campaign import example_campaign, speed_limiter_campaign

ENDED = {"Completed", "Failed", "RolledBack"}
LIMITS = "PerformanceLimits"


@pytest.mark.clause("ota.performance-disclosure")
def test_no_undisclosed_performance_change(bus, hmi, ota_backend, vecu, judge):
    """A battery-management bug fix that declares no change of performance is installed, then a
    regulatory update that declares a top speed of 160 km/h and nothing else. Expect usable battery
    capacity, drive power and top speed on CAN to change only as declared: not at all, then the top
    speed alone."""
    for campaign in (example_campaign(4401, duration_min=20), speed_limiter_campaign(4402, (1, 6, 0))):
        ota_backend.offer(campaign)
        hmi.wait_for_notice(campaign.campaign_id)
        hmi.accept(campaign.campaign_id)
        hmi.wait_for_state(ENDED, timeout_vehicle_s=3600)
        bus.monitor.wait_message(LIMITS, 2.0, after=time.time())  # the limits as they are after the update
        ota_backend.withdraw(campaign.campaign_id)
    judge(check_performance_disclosure)
