"""The `harness` command: `run` the conformance suites against a rig and write the reports.

Input is validated before anything starts, so a bad rig file, profile or defect name is one
clear line and exit status 2, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.commands import analyze as analyze_command
from harness.commands import diff as diff_command
from harness.commands import keygen as keygen_command
from harness.commands import replay as replay_command
from harness.commands import rig_check as rig_command
from harness.errors import ConfigError, HarnessError
from harness.findings import Verdict
from harness.paths import data_dir, default_rig

if TYPE_CHECKING:
    from harness.report.keys import Signer

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
    run.add_argument("--compare", type=Path, metavar="PREVIOUS_BUNDLE",
                     help="after the run, list what changed since an earlier run (bundle, reports dir or results.json)")
    run.add_argument("--archive", action="store_true", help="also pack the evidence bundle as reports/bundle.tar.gz")
    run.add_argument("--sign", type=Path, metavar="KEY",
                     help="sign the evidence bundle with this private key (PEM, Ed25519 or ECDSA; may hold the "
                          "certificate too)")
    run.add_argument("--sign-cert", type=Path, metavar="CERT",
                     help="the X.509 certificate (PEM) of the --sign key, naming the lab")
    run.add_argument("--no-allure-report", dest="allure_report", action="store_false",
                     help="do not render the Allure HTML report even when a generator is installed")
    run.add_argument("--seed", type=int, default=None,
                     help="hypothesis seed for the run (default: random; recorded in the evidence bundle)")
    run.add_argument("-n", "--workers", type=int, default=0, metavar="N",
                     help="run the suites on N virtual rigs in parallel (pytest-xdist), each worker with its own "
                          "namespaces and CAN bus")
    replay_command.add_parser(sub)
    diff_command.add_parser(sub)
    analyze_command.add_parser(sub)
    rig_command.add_parser(sub)
    keygen_command.add_parser(sub)
    args = parser.parse_args(argv)
    try:
        if hasattr(args, "handler"):
            return int(args.handler(args))
        return _run(args)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return USAGE
    except KeyboardInterrupt:
        print("harness: interrupted; the rig was torn down", file=sys.stderr)
        return ERROR


def _run(args: argparse.Namespace) -> int:
    from harness.policy.profile import load_profile
    from harness.report.compare import load_run
    from harness.report.publish import PublishOptions, publish
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
    signer = _signer(args.sign, args.sign_cert)  # a key that does not load stops the run before it starts
    # read the earlier run first: it may live in the reports directory this run overwrites
    previous = load_run(args.compare) if args.compare else None
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
    pytest_args = [*suites, "-v", "-p", "no:cacheprovider", "-p", "no:labgrid",
                   f"--rootdir={data_dir('suites').parent}",
                   f"--rig={rig.path}", f"--profile={args.profile}", f"--harness-reports={reports}",
                   f"--junitxml={reports / 'junit.xml'}", f"--alluredir={reports / 'allure-results'}",
                   "-o", "junit_family=xunit2"]
    pytest_args += _parallel_args(args.workers, rig.is_virtual, reports / "allure-results")
    pytest_args += [f"--vecu-defect={d}" for d in args.vecu_defect]
    pytest_args += [f"--rule={r}" for r in args.rule]
    pytest_args.append(f"--hypothesis-seed={args.seed if args.seed is not None else random.getrandbits(32)}")
    if args.keyword:
        pytest_args += ["-k", args.keyword]
    code = pytest.main(pytest_args)
    if not results.is_file():
        print(f"harness: error: no test ran (pytest exit status {int(code)})", file=sys.stderr)
        return ERROR
    verdict = Verdict(json.loads(results.read_text(encoding="utf-8"))["verdict"])
    try:
        publish(reports, rig, args.profile, PublishOptions(args.archive, args.allure_report, previous,
                                                           str(args.compare or ""), signer))
    except (HarnessError, OSError) as exc:
        print(f"harness: error: the evidence bundle could not be written: {exc}", file=sys.stderr)
        return ERROR
    print(f"harness: overall verdict {verdict.value.upper()}; report {reports / 'index.html'}")
    return verdict.exit_status


def _signer(key: Path | None, certificate: Path | None) -> Signer | None:
    from harness.report.keys import load_signer

    if key is None:
        if certificate is not None:
            raise ConfigError("--sign-cert needs --sign KEY, the certificate's private key")
        return None
    return load_signer(key, certificate)


def _parallel_args(workers: int, virtual: bool, allure_results: Path) -> list[str]:
    """pytest-xdist workers each bring up a virtual rig of their own; a bench is one ECU and is not shared."""
    import shutil

    if workers < 0 or (workers > 1 and not virtual):
        raise ConfigError(f"-n {workers}: parallel runs need a virtual rig (a bench has one ECU); use -n 0 or 1")
    if workers <= 1:
        return ["--clean-alluredir"]
    # every worker would clean the results directory at its start, deleting what others wrote: clean once here
    shutil.rmtree(allure_results, ignore_errors=True)
    return ["-n", str(workers)]


if __name__ == "__main__":
    sys.exit(main())
