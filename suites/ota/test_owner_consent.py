"""OTA: the owner decides whether and when an update is installed."""

import pytest

from harness.checks.ota import check_consent
from harness.checks.ota_postponement import check_postponement
from harness.errors import HarnessError
from harness.scenarios.campaign import example_campaign

ENDED = {"Completed", "Failed", "RolledBack"}


@pytest.mark.clause("ota.consent")
def test_no_installation_before_owner_accepts(hmi, ota_backend, vecu, fast_forward, judge):
    """An update is offered while the vehicle is parked; the owner reads the notice and lets ten
    minutes pass before accepting. Expect no installation before the owner accepts, and the
    installation after it."""
    campaign = ota_backend.offer(example_campaign(duration_min=5))
    hmi.wait_for_notice(campaign.campaign_id, timeout_vehicle_s=300)
    fast_forward.run(600)
    hmi.accept(campaign.campaign_id)
    hmi.wait_for_state(ENDED, timeout_vehicle_s=1800)
    judge(check_consent, installation_expected=True)


@pytest.mark.clause("ota.consent")
def test_declined_update_is_not_installed(hmi, ota_backend, vecu, fast_forward, judge):
    """The owner declines an offered update and the backend keeps offering it for two hours of
    parking. Expect nothing installed."""
    campaign = ota_backend.offer(example_campaign(duration_min=10))
    notice = hmi.wait_for_notice(campaign.campaign_id)
    if notice is not None:
        hmi.decline(campaign.campaign_id)
    fast_forward.run(2 * 3600)
    # judged either way: an installation without acceptance fails even when no notice was shown
    judge(check_consent, installation_expected=False)
    if notice is None:
        raise HarnessError("the vehicle never showed the update's notice, so the owner had nothing to decline")


@pytest.mark.clause("ota.consent")
def test_postponed_update_waits_for_the_owner(hmi, ota_backend, vecu, fast_forward, judge):
    """The owner postpones an update by an hour; when the notice comes back, the owner accepts.
    Expect the notice not back before the hour is up, no installation during the postponement, and the
    installation only after the acceptance."""
    campaign = ota_backend.offer(example_campaign(duration_min=10))
    hmi.wait_for_notice(campaign.campaign_id)
    hmi.postpone(campaign.campaign_id, minutes=60)
    # in half-minute steps, so a vehicle that asks again a minute early shows it
    fast_forward.until(lambda v: v.get("ota.status.state") == "AwaitingConsent", 2 * 3600, step_s=30)
    hmi.wait_for_notice(campaign.campaign_id, timeout_vehicle_s=2 * 3600)
    hmi.accept(campaign.campaign_id)
    hmi.wait_for_state(ENDED, timeout_vehicle_s=1800)
    judge(check_consent, installation_expected=True)
    judge(check_postponement)
