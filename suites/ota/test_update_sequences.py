"""OTA: whatever the owner, the vehicle and the network do, an update stays safe (stateful exploration)."""

import pytest

from harness.checks.ota_sequences import check_update_sequences
from harness.errors import HarnessError
from harness.scenarios.explore import parse_seed
from harness.scenarios.ota_explorer import LiveRecording, UpdateWorld, explore_updates


@pytest.mark.clause("ota.consent", "ota.safe-state", "ota.rollback", "ota.result-notice")
def test_update_sequences_keep_the_vehicle_safe(rig, vehicle, hmi, ota_backend, vecu, fast_forward, policy, judge,
                                                record_seed, request):
    """A hypothesis state machine plays campaigns (some with a corrupted or wrongly signed package, a
    cut or slow link, or a supply failure during installation) against the owner's answers (accept,
    postpone, decline), the vehicle driving, parking, running low or charging, and time passing; each
    campaign ends with the owner accepting from the road and parking. Expect no installation without
    consent or outside the safe state, every update ending on a working version, and the owner told
    every result."""
    seed = parse_seed(request.config.getoption("hypothesis_seed", None))
    record_seed("hypothesis", seed)
    world = UpdateWorld(vehicle, hmi, ota_backend, fast_forward, rig.monitor, LiveRecording(rig.recorder, rig.codec),
                        policy)
    result = explore_updates(world, seed)
    rig.scenario.record("exploration", seed=seed, examples=result.examples, wall_s=round(result.wall_s, 2),
                        failure=result.failure)
    print(f"explored {result.examples} campaigns in {result.wall_s:.1f} s (seed {seed})")
    judge(check_update_sequences, sequences=world.sequences, seed=str(seed))
    if result.failure:
        raise HarnessError(f"the exploration stopped on something the capture does not show: {result.failure}")
