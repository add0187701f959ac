"""OTA: consent is given to one campaign; the owner's answer to another one installs nothing."""

import pytest

from harness.checks.ota import check_consent
from harness.errors import HarnessError
from harness.scenarios.campaign import example_campaign


@pytest.mark.clause("ota.consent")
def test_acceptance_of_another_campaign_installs_nothing(hmi, ota_backend, vecu, fast_forward, judge):
    """An update is offered while the vehicle is parked; the screen receives an Accept for the
    campaign numbered just above it and one for the campaign just below it (answers to other
    dialogs), and the vehicle stays parked for an hour. Expect nothing installed: an answer counts
    only for the campaign it names, above or below."""
    campaign = ota_backend.offer(example_campaign(duration_min=5))
    notice = hmi.wait_for_notice(campaign.campaign_id, timeout_vehicle_s=300)
    if notice is not None:
        hmi.accept(campaign.campaign_id + 1)
        hmi.accept(campaign.campaign_id - 1)
    fast_forward.run(3600)
    # judged either way: an installation without acceptance fails even when no notice was shown
    judge(check_consent, installation_expected=False)
    if notice is None:
        raise HarnessError("the vehicle never showed the update's notice, so no other campaign's answer was tested")
