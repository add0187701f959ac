"""Measures the OTA exploration on the virtual rig: how many update scenarios per second the state
machine plays, and how much faster than the wall clock vehicle time runs through an installation.

Both bound what an OTA suite can cover in a CI budget; run as root (the rig creates namespaces):
    .venv/bin/python bench/ota.py [--examples 12] [--seed N] [--json]"""
from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.paths import default_rig  # noqa: E402
from harness.policy.policy import Policy  # noqa: E402
from harness.policy.profile import load_profile  # noqa: E402
from harness.rig.config import load_rig  # noqa: E402
from harness.rig.session import RigSession  # noqa: E402
from harness.scenarios.campaign import example_campaign  # noqa: E402
from harness.scenarios.fastforward import FastForward  # noqa: E402
from harness.scenarios.hmi import OwnerScreen  # noqa: E402
from harness.scenarios.ota_explorer import LiveRecording, UpdateWorld, explore_updates  # noqa: E402
from harness.scenarios.vehicle import Vehicle  # noqa: E402

INSTALL_MIN = 20
ENDED = {"Completed", "Failed", "RolledBack"}


def installation(rig: RigSession, hmi: OwnerScreen, forward: FastForward, campaign_id: int,
                 step_s: float | None) -> dict[str, float]:
    """A 20-minute installation, accepted and run to its result: vehicle seconds per wall second.
    `step_s` None jumps as the suites' waits do; 20 s puts every step of the installation on the bus."""
    campaign = rig.backend.offer(example_campaign(campaign_id, duration_min=INSTALL_MIN,
                                                  target_version=(1, 5, campaign_id % 200)))
    if hmi.wait_for_notice(campaign.campaign_id) is None:
        raise SystemExit("bench: the vECU showed no notice")
    hmi.accept(campaign.campaign_id)
    if forward.state_in({"Installing"}, 3600) is None:
        raise SystemExit("bench: the installation did not start")
    vehicle0, wall0 = rig.clock.now(), time.monotonic()
    state = forward.state_in(ENDED, 3 * 3600, step_s=step_s)
    vehicle_s, wall_s = rig.clock.now() - vehicle0, time.monotonic() - wall0
    if state != "Completed":
        raise SystemExit(f"bench: the installation ended {state}")
    rig.backend.withdraw(campaign.campaign_id)
    return {"vehicle_s": round(vehicle_s, 1), "wall_s": round(wall_s, 3), "acceleration": round(vehicle_s / wall_s, 1)}


def exploration(rig: RigSession, world: UpdateWorld, seed: int, examples: int) -> dict[str, Any]:
    result = explore_updates(world, seed, examples=examples)
    steps = sum(len(s) for s in world.sequences.values())
    return {"seed": seed, "scenarios": result.examples, "steps": steps, "wall_s": round(result.wall_s, 2),
            "scenarios_per_s": round(result.examples / result.wall_s, 2), "violation": result.failure,
            "fast_forward_acceleration": round(world.forward.acceleration, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=12, help="scenarios the state machine plays (max 100)")
    parser.add_argument("--seed", type=int, default=None, help="hypothesis seed (default: random)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    examples = max(1, min(args.examples, 100))
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    rig_config = load_rig(default_rig())
    with tempfile.TemporaryDirectory(prefix="bench-ota-") as tmp:
        rig = RigSession(rig_config, Path(tmp))
        rig.start()
        ecu = None
        try:
            assert rig.tx is not None
            vehicle = Vehicle(rig.tx, rig.clock, rig.scenario)
            vehicle.reset()
            forward = FastForward(rig.clock, rig.monitor, transfers=rig.backend.package_requests)
            hmi = OwnerScreen(rig.tx, rig.monitor, rig.clock, rig.scenario, forward, rig.can_notifier)
            hmi.reset()
            ecu = rig.vecu((), Path(tmp) / "vecu.log")
            ecu.start()
            rig.wait_ecu_alive()
            report: dict[str, Any] = {"time_scale": rig_config.time_scale,
                                      "installation_20s_steps": installation(rig, hmi, forward, 9001, 20.0),
                                      "installation_default": installation(rig, hmi, forward, 9002, None)}
            world = UpdateWorld(vehicle, hmi, rig.backend,
                                FastForward(rig.clock, rig.monitor, transfers=rig.backend.package_requests),
                                rig.monitor, LiveRecording(rig.recorder, rig.codec),
                                Policy(load_profile("cn"), rig_config.netmap))
            report.update(exploration(rig, world, seed, examples))
        finally:
            if ecu is not None:
                ecu.stop()
            rig.close()
    if args.json:
        print(json.dumps(report, sort_keys=True))
    else:
        for name, label in (("installation_20s_steps", "in 20 s steps"), ("installation_default", "default steps")):
            run = report[name]
            print(f"{INSTALL_MIN}-min installation {label}: {run['vehicle_s']:.0f} s of vehicle time to the result "
                  f"in {run['wall_s']:.2f} s wall = {run['acceleration']:.0f}x (the clock alone runs "
                  f"{report['time_scale']:.0f}x)")
        print(f"state machine: {report['scenarios']} scenarios ({report['steps']} steps) in {report['wall_s']:.1f} s "
              f"= {report['scenarios_per_s']:.2f} scenarios/s, fast-forward "
              f"{report['fast_forward_acceleration']:.0f}x, seed {report['seed']}"
              + (f"; violation: {report['violation']}" if report["violation"] else ""))
    return 0 if not report["violation"] else 1


if __name__ == "__main__":
    sys.exit(main())
