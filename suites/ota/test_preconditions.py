"""OTA: every precondition of the safe state is checked on its own, at its boundary."""

import pytest

from harness.checks.ota_safety import check_safe_state
from harness.scenarios.campaign import example_campaign
from harness.scenarios.ota_preconditions import PreconditionPlayer, Preconditions

EXAMPLES = 12   # generated states after the boundary ones; each costs about half a second


@pytest.mark.clause("ota.safe-state")
def test_installation_waits_until_every_precondition_holds(bus, vehicle, hmi, ota_backend, vecu, fast_forward,
                                                           policy, explore, judge):
    """An accepted update's package is ready while the vehicle drives; then the vehicle takes one state
    after another: each precondition broken on its own at its boundary (rolling at 3 km/h and at the
    standstill limit, stationary in N and in R, parking brake released, charge below the campaign's
    minimum, charging below the share of it that suffices while charging, supply just below the
    undervoltage threshold), a safe state at the limits, then states hypothesis draws around every
    boundary with one or two conditions broken. Expect the installation to begin only where the rule
    allows it, and while it waits the owner told the rule's reason (UnsafeState or LowEnergy)."""
    limits = Preconditions.of(policy.profile.rule("ota.safe-state").limits, example_campaign().min_soc_pct)
    player = PreconditionPlayer(vehicle, hmi, ota_backend, fast_forward, bus.monitor, next_campaign=4801)
    boundaries = limits.boundaries()
    for name, state in boundaries.items():
        player.play(state, name)
    explore.run(limits.states(), player.play, examples=EXAMPLES)
    print(f"played {player.played} states, {player.installed} installations (seed {explore.seed})")
    judge(check_safe_state, situations=boundaries)
