"""`harness keygen OUT`: a lab's Ed25519 signing key for `harness run --sign`: OUT (private, PEM, mode 0600)
and OUT.pub (public, PEM) to hand to whoever checks the lab's bundles with `harness replay --trust`.

Exit status 0, or 2 when a file exists (keys are never overwritten) or cannot be written."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("keygen", help="make an Ed25519 key pair for signing evidence bundles")
    parser.add_argument("out", type=Path, help="the private key file to write; the public key goes to OUT.pub")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from harness.report.keys import write_key_pair

    private, public, keyid = write_key_pair(args.out)
    print(f"private key {private} (keep it to the lab; sign with harness run --sign {private})")
    print(f"public key  {public} (hand it over; check with harness replay --trust {public})")
    print(f"key id      {keyid}")
    return 0
