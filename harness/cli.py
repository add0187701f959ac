"""The `harness` command: `run` the conformance suites against a rig and write the reports.

Input is validated before anything starts, so a bad rig file, profile or defect name is one
clear line and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from harness.errors import HarnessError
from harness.findings import Verdict
from harness.paths import data_dir, default_rig

USAGE, ERROR = 2, 4


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="harness", description="Conformance harness for connected vehicles.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the conformance suites against a rig and write reports/")
    run.add_argument("suites", nargs="*", help="suite directories or test ids (default: all suites)")
    run.add_argument("--rig", type=Path, default=None, help="rig file (default: rigs/virtual.toml)")
    run.add_argument("--profile", default="cn", help="regulatory profile: cn or eu (default cn)")
    run.add_argument("--vecu-defect", action="append", default=[], metavar="NAME",
                     help="seed a defect into the virtual ECU (repeatable); see --list-defects")
    run.add_argument("--list-defects", action="store_true", help="list the vECU's seeded defects and exit")
    run.add_argument("--reports", type=Path, default=Path("reports"), help="report directory (default reports/)")
    run.add_argument("-k", dest="keyword", help="only tests matching this pytest -k expression")
    run.add_argument("--rule", action="append", default=[], metavar="RULE_ID",
                     help="only the tests that verify this rule, e.g. ota.consent (repeatable)")
    args = parser.parse_args(argv)
    try:
        return _run(args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print("harness: interrupted; the rig was torn down", file=sys.stderr)
        return ERROR


def _run(args: argparse.Namespace) -> int:
    from harness.policy.profile import load_profile
    from harness.rig.config import load_rig
    from harness.rig.netns import require_namespaces
    from harness.vecu.defects import load_catalogue, validate

    if args.list_defects:
        for defect in load_catalogue().values():
            print(f"{defect.name:28} {defect.rule:28} {defect.breaks}")
        return 0
    rig = load_rig(args.rig or default_rig())
    load_profile(args.profile)
    validate(args.vecu_defect)
    if rig.is_virtual:
        try:
            require_namespaces()
        except HarnessError as exc:
            print(f"harness: error: {exc}", file=sys.stderr)
            return ERROR
    import pytest

    reports: Path = args.reports
    reports.mkdir(parents=True, exist_ok=True)
    results = reports / "results.json"
    results.unlink(missing_ok=True)
    os.environ.setdefault("ALLURE_NO_ANALYTICS", "true")
    suites = args.suites or [str(data_dir("suites"))]
    pytest_args = [*suites, "-v", "-p", "no:cacheprovider", f"--rootdir={data_dir('suites').parent}",
                   f"--rig={rig.path}", f"--profile={args.profile}", f"--harness-reports={reports}",
                   f"--junitxml={reports / 'junit.xml'}", f"--alluredir={reports / 'allure-results'}",
                   "--clean-alluredir", "-o", "junit_family=xunit2"]
    pytest_args += [f"--vecu-defect={d}" for d in args.vecu_defect]
    pytest_args += [f"--rule={r}" for r in args.rule]
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    code = pytest.main(pytest_args)
    if not results.is_file():
        print(f"harness: error: no test ran (pytest exit status {int(code)})", file=sys.stderr)
        return ERROR
    verdict = Verdict(json.loads(results.read_text(encoding="utf-8"))["verdict"])
    print(f"harness: overall verdict {verdict.value.upper()}; report {reports / 'index.html'}")
    return verdict.exit_status


if __name__ == "__main__":
    sys.exit(main())
