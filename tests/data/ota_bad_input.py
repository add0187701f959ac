"""OTA conformance tests whose input or ECU misbehaves in ways that are not violations: malformed
campaign metadata, an ECU that hangs mid-update, a diagnostic request that times out. The verdict
must be error or inconclusive, with the reason, and never pass."""

import os
import signal

import pytest

from harness.checks.ota_diagnostics import check_programming_session
from harness.checks.ota_notice import check_notice
from harness.checks.ota_outcome import check_result_notice
from harness.scenarios.campaign import example_campaign
from harness.scenarios.vehicle_states import put


@pytest.mark.clause("ota.notice")
def test_malformed_campaign_metadata(hmi, ota_backend, vecu, judge):
    """The backend describes a campaign without its estimated duration. Expect an error verdict that
    names the missing field."""
    campaign = ota_backend.offer(example_campaign(4501), "malformed-metadata")
    hmi.wait_for_notice(campaign.campaign_id, timeout_vehicle_s=600)
    judge(check_notice, campaign_id=campaign.campaign_id)


@pytest.mark.clause("ota.result-notice")
def test_ecu_hangs_mid_update(hmi, ota_backend, vecu, fast_forward, judge):
    """The ECU stops answering (SIGSTOP) half-way through an installation. Expect inconclusive or
    error: whether the owner would have been told is unknown."""
    campaign = ota_backend.offer(example_campaign(4502))
    hmi.wait_for_notice(campaign.campaign_id)
    hmi.accept(campaign.campaign_id)
    fast_forward.until(lambda v: int(v.get("ota.status.progress_pct", 0)) >= 30, 3600)
    os.killpg(vecu.pid, signal.SIGSTOP)
    try:
        fast_forward.run(3600)
        judge(check_result_notice)
    finally:
        os.killpg(vecu.pid, signal.SIGCONT)


@pytest.mark.clause("ota.diagnostic-session-safety")
def test_uds_request_times_out(bus, vehicle, vecu, uds, judge):
    """The ECU hangs before a tester asks it for a programming session while driving. Expect
    inconclusive: the ECU never answered."""
    put(vehicle, "driving", bus.monitor)
    os.killpg(vecu.pid, signal.SIGSTOP)
    try:
        with uds.over_can() as tester:
            tester.session(0x02)
        request_id, response_id = uds.can_ids
        judge(check_programming_session, transports=["isotp"], can_request_id=request_id,
              can_response_id=response_id)
    finally:
        os.killpg(vecu.pid, signal.SIGCONT)
