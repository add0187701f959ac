"""Consent: the owner's privacy switches stop collection when the owner switches them off."""

import pytest

from harness.checks.consent import check_consent_withdrawal
from harness.scenarios.drive import DriveCycle, play
from harness.scenarios.strategies import drives_with_switches
from harness.scenarios.withdrawals import WithdrawalPlayer, boundary_moments, moments

BOUNDARY_S = 6.0   # boundary withdrawals up to this long after an upload: upload periods up to it
SPAN_S = 10.0      # generated withdrawals up to this long after an upload
EXAMPLES = 4       # generated moments after the boundary ones; each costs about 0.5 s
WATCH_MARGIN_S = 1.0  # beyond the latency, watched at a pace the ECU can follow


@pytest.mark.clause("minimization.consent")
def test_nothing_leaves_after_consent_is_withdrawn(rig, policy, vehicle, vecu, explore, judge):
    """The owner switches location sharing, cabin camera and voice upload on and off at generated
    times during generated drives. Expect nothing of a switch's categories to leave the vehicle from
    2 s (vehicle time) after the switch went off until it is on again, each switch seen withdrawn
    after its categories flowed and the vehicle seen sending long enough afterwards to tell."""
    explore.run(drives_with_switches(policy.netmap.consents), lambda cycle: play(cycle, vehicle, rig.clock),
                describe=DriveCycle.describe)
    judge(check_consent_withdrawal)


@pytest.mark.clause("minimization.consent")
def test_location_stops_within_the_latency_after_withdrawal(rig, policy, vehicle, vecu, fast_forward,
                                                              explore, judge):
    """The vehicle is parked with location sharing on; right after it uploads, the owner switches
    location sharing off a chosen number of vehicle seconds later: every quarter second from 0 to
    6 s, then at moments up to 10 s hypothesis draws, so that the vehicle's next upload falls just
    before and just after the 2 s the rule allows. Expect no position to leave the vehicle from 2 s after any
    withdrawal, location seen withdrawn after positions flowed and the vehicle seen sending afterwards."""
    latency = policy.profile.rule("minimization.consent").limit("latency_s")
    signal = next(s.signal for s in policy.netmap.consents if "location" in s.categories)
    player = WithdrawalPlayer(vehicle, rig.clock, fast_forward, signal, latency + WATCH_MARGIN_S)
    for moment in boundary_moments(BOUNDARY_S):
        player.play(moment)
    explore.run(moments(SPAN_S), player.play, examples=EXAMPLES)
    print(f"played {player.played} withdrawals (seed {explore.seed})")
    judge(check_consent_withdrawal, situations={f"{signal} switched off after an upload": {signal: "Off"}})
