"""Consent: the owner's privacy switches stop collection when the owner switches them off."""

import pytest

from harness.checks.consent import check_consent_withdrawal
from harness.scenarios.drive import DriveCycle, play
from harness.scenarios.strategies import drives_with_switches

LATENCY_S = 2.0  # vehicle seconds the vehicle may take to act on a switch it has received


@pytest.mark.clause("minimization.consent")
def test_nothing_leaves_after_consent_is_withdrawn(rig, policy, vehicle, vecu, explore, judge):
    """The owner switches location sharing, cabin camera and voice upload on and off at generated
    times during generated drives. Expect nothing of a switch's categories to leave the vehicle from
    2 s (vehicle time) after the switch went off until it is on again."""
    explore.run(drives_with_switches(policy.netmap.consents), lambda cycle: play(cycle, vehicle, rig.clock),
                describe=DriveCycle.describe)
    judge(check_consent_withdrawal, latency_s=LATENCY_S)
