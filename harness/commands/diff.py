"""`harness diff OLD NEW [--json]`: what changed between two runs (bundles, reports directories or
results.json files): new fails, new errors, new inconclusive, fixed, changed, added, removed.

Exit status 0 when nothing regressed, 1 when something did, 4 when a bundle fails verification."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("diff", help="compare two runs: new fails, fixed, new inconclusive, changed")
    parser.add_argument("old", type=Path, help="the earlier run: a bundle, its archive, a reports dir or results.json")
    parser.add_argument("new", type=Path, help="the later run, likewise")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from harness.findings import Verdict
    from harness.report.compare import compare, load_run
    from harness.report.manifest import BundleError

    try:
        old, new = load_run(args.old), load_run(args.new)
    except BundleError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return Verdict.ERROR.exit_status
    result = compare(old, new, str(args.old), str(args.new))
    print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) if args.json else result.text())
    return 1 if result.regressed else 0
