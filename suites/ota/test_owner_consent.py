"""OTA: the owner decides whether an update is installed."""

import pytest

from harness.checks.ota import check_consent
from harness.scenarios.campaign import example_campaign


@pytest.mark.clause("ota.consent")
def test_no_installation_before_owner_accepts(rig, vehicle, hmi, ota_backend, vecu, judge):
    """An update is offered while the vehicle is parked; the owner reads the notice and lets ten
    minutes pass before accepting. Expect no installation before the owner accepts, and the
    installation after it."""
    campaign = ota_backend.offer(example_campaign(duration_min=5))
    hmi.wait_for_notice(campaign.campaign_id, timeout_vehicle_s=300)
    rig.clock.sleep(600)
    hmi.accept(campaign.campaign_id)
    hmi.wait_for_state({"Completed", "Failed", "RolledBack"}, timeout_vehicle_s=1800)
    judge(check_consent, installation_expected=True)
