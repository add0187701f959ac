"""OTA: only authentic software is installed, and its version is readable over diagnostics."""

import pytest

from harness.checks.ota_identity import check_software_identification
from harness.scenarios.campaign import example_campaign

ENDED = {"Completed", "Failed", "RolledBack"}
SOFTWARE_VERSION = 0xF195


def _update(hmi, ota_backend, campaign, *faults):
    ota_backend.offer(campaign, *faults)
    hmi.wait_for_notice(campaign.campaign_id)
    hmi.accept(campaign.campaign_id)
    hmi.wait_for_state(ENDED, timeout_vehicle_s=3600)
    ota_backend.withdraw(campaign.campaign_id)


@pytest.mark.clause("ota.software-identification")
def test_only_authentic_software_installed_and_identified(hmi, ota_backend, vecu, uds, judge):
    """A release signed with a key that is not the maker's, then one corrupted in transit, then the
    genuine release are offered and accepted; the software version (ReadDataByIdentifier 0xF195) is
    read over ISO-TP on CAN before and after each. Expect the first two refused, the third installed,
    and 0xF195 to read the campaign's target version once it is installed."""
    with uds.over_can() as tester:
        tester.read(SOFTWARE_VERSION)
        _update(hmi, ota_backend, example_campaign(4301, target_version=(1, 5, 0)), "bad-signature")
        tester.read(SOFTWARE_VERSION)
        _update(hmi, ota_backend, example_campaign(4302, target_version=(1, 5, 0)), "corrupt")
        tester.read(SOFTWARE_VERSION)
        _update(hmi, ota_backend, example_campaign(4303, target_version=(1, 5, 0)))
        tester.read(SOFTWARE_VERSION)
    request_id, response_id = uds.can_ids
    judge(check_software_identification, trust_anchor=ota_backend.trust_anchor, can_request_id=request_id,
          can_response_id=response_id)
