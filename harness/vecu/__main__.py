"""Run the reference virtual ECU: `python -m harness.vecu --rig RIG [--defect NAME]`.

The harness starts it inside the rig's vehicle namespace; it prints `ready` once its CAN and IP
sides are up and stops cleanly on SIGTERM."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from harness.errors import HarnessError
from harness.rig.config import load_rig
from harness.vecu.defects import validate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m harness.vecu", description=__doc__)
    parser.add_argument("--rig", required=True, type=Path, help="rig file (rigs/virtual.toml)")
    parser.add_argument("--defect", action="append", default=[], help="seeded defect (repeatable)")
    parser.add_argument("--can-netns", help="network namespace holding the virtual CAN bus")
    parser.add_argument("--ota-trust-anchor", type=Path, help="PEM public key that signs OTA packages")
    parser.add_argument("--state-dir", type=Path,
                        help="non-volatile memory: installed version and update state survive a restart here")
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        from harness.vecu.ecu import VirtualEcu  # heavy imports after argument errors are reported

        rig = load_rig(args.rig)
        if rig.vecu is None:
            raise HarnessError(f"{args.rig}: not a virtual rig (no [vecu] table)")
        ecu = VirtualEcu(rig, frozenset(validate(args.defect)), args.can_netns, args.ota_trust_anchor,
                         args.state_dir)
    except HarnessError as exc:
        print(f"vecu: error: {exc}", file=sys.stderr, flush=True)
        return 2
    print("ready", flush=True)
    ecu.run(stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
