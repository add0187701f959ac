"""`harness replay BUNDLE [--trust PUBKEY_OR_CERT] [--json]`: verify an evidence bundle and re-judge it offline,
printing the verdicts and findings; no rig, no namespaces, no root.

Exit status: the overall verdict's (0 pass, 1 fail, 3 inconclusive, 4 error); 4 as well when the bundle
fails verification, is not signed by the trusted key, or the replay does not reproduce the recorded run;
2 when the trusted key file does not load."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the checks load only when a replay runs, so `harness --help` never depends on them
    from harness.report.replay import Replay


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("replay", help="re-judge an evidence bundle offline and print its verdicts and findings")
    parser.add_argument("bundle", type=Path, help="the bundle directory (reports/bundle) or its .tar.gz archive")
    parser.add_argument("--trust", type=Path, metavar="PUBKEY_OR_CERT",
                        help="replay only a bundle signed with this key (PEM public key or X.509 certificate)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from harness.findings import Verdict
    from harness.report.keys import load_trusted
    from harness.report.manifest import BundleError
    from harness.report.replay import replay

    trusted = load_trusted(args.trust) if args.trust is not None else None  # ConfigError: exit status 2
    try:
        result = replay(args.bundle, trusted)
    except BundleError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return Verdict.ERROR.exit_status
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(text(result))
    if result.differences:
        names = ", ".join(t.name for t in result.differences[:5])
        why = "" if result.same_code else " (the harness code differs from the code that made the bundle)"
        print(f"harness: error: the replay differs from the recorded run in {len(result.differences)} test(s): "
              f"{names}{why}", file=sys.stderr)
        return Verdict.ERROR.exit_status
    return result.verdict.exit_status


def text(result: Replay) -> str:
    from harness.report.summary import printable, summary_table

    data = result.to_dict()
    lines = [f"replay of {result.bundle} (profile {data['profile']}, recorded {data['started']}); "
             f"bundle verified against its manifest; {result.signature.describe()}", "", summary_table(data), ""]
    for test in result.tests:
        lines.append(f"{printable(test.name)}: {test.verdict.value.upper()}"
                     + ("" if test.reproduced else f"  (recorded {test.recorded_verdict.upper()}: NOT REPRODUCED)"))
        if not test.findings:
            lines.append(f"  {printable(test.reason)}")
        for finding in test.findings:
            flow = f" [{finding.src} -> {finding.dst}]" if finding.dst else ""
            lines.append(f"  {finding.verdict.value.upper():13} {printable(finding.clause)}: "
                         f"{printable(finding.detail)}{printable(flow)}")
    same = len(result.tests) - len(result.differences)
    lines += ["", f"{same} of {len(result.tests)} tests reproduce the recorded verdict and findings"]
    if not result.same_code:
        lines.append(f"note: replayed with harness code {result.replay_code[:12]}, the bundle was made with "
                     f"{result.recorded_code[:12] or 'unknown code'}")
    return "\n".join(lines)
