"""`harness rig check RIG [--active] [--json]`: a table of what of the rig is reachable and configured,
each problem with its fix, before a run.

Exit status 0 when the suites can run, 1 when a part they need is missing, 2 when the rig file
itself does not load. Puts no frame on the CAN bus unless --active."""

from __future__ import annotations

import argparse
import json
import shutil
import textwrap
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from harness.paths import default_rig

if TYPE_CHECKING:  # the check itself loads python-can and cantools: only when it runs
    from harness.rig.check import RigReport

NOT_READY, BAD_RIG = 1, 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rig = sub.add_parser("rig", help="rig tools: `harness rig check RIG` tells what is reachable before a run")
    rig_sub = rig.add_subparsers(dest="rig_command", required=True)
    check = rig_sub.add_parser("check", help="check that a rig's CAN interface, DBC, mapping, capture point and "
                                             "DoIP entity are there")
    check.add_argument("rig", type=Path, nargs="?", default=None, help="rig file (default: rigs/virtual.toml)")
    check.add_argument("--active", action="store_true",
                       help="also transmit the rest of the vehicle's cyclic frames while listening (for ECUs that "
                            "stay silent without them); without it the check only listens on CAN")
    check.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    check.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from harness.rig.check import check_rig

    report = check_rig(args.rig or default_rig(), active=args.active)
    if args.json:
        print(json.dumps({"rig": report.rig, "ready": report.ready,
                          "rows": [asdict(row) for row in report.rows]}, indent=2))
    else:
        print(table(report))
    if not report.loaded:
        return BAD_RIG
    return 0 if report.ready else NOT_READY


def table(report: RigReport) -> str:
    from harness.rig.check import Status
    width = max(80, min(shutil.get_terminal_size((120, 24)).columns, 160))
    item_w = max(len(row.item) for row in report.rows)
    lead = item_w + 8
    lines = [f"rig check: {report.rig}", "", f"{'PART':{item_w}}  STATUS  DETAIL", "-" * width]
    for row in report.rows:
        detail = textwrap.wrap(row.detail, width - lead) or [""]
        lines.append(f"{row.item:{item_w}}  {row.status.value:6}  {detail[0]}")
        lines += [" " * lead + more for more in detail[1:]]
        if row.fix and row.status in (Status.FAIL, Status.WARN):
            for i, text in enumerate(textwrap.wrap(row.fix, width - lead - 5)):
                lines.append(" " * lead + ("fix: " if i == 0 else "     ") + text)
    lines.append("-" * width)
    problems = sum(1 for row in report.rows if row.status is Status.FAIL)
    lines.append("ready: the suites can run on this rig" if report.ready else
                 f"NOT READY: {problems} problem{'s' if problems != 1 else ''}; a suite run would end in error")
    return "\n".join(lines)
