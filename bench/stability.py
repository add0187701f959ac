"""Measures how often the conformance run gives a test anything but `pass` on the compliant vECU.

A compliant vehicle must pass every run whatever the hypothesis seed: a test that is `inconclusive`
by chance is a defect of the suite. This runs `harness run` N times with fresh random seeds and
prints, per test, how often it was not `pass`, with each verdict, reason and the seed that
reproduces it (`harness run --seed SEED`). Run as root (the virtual rig creates namespaces):
    .venv/bin/python bench/stability.py [--runs 20] [--rule RULE_ID ...] [-k EXPR] [--json]"""
from __future__ import annotations

import argparse
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RUN_TIMEOUT_S = 3600.0  # one whole conformance run; a hung run is recorded, not waited for forever


@dataclass
class Outcome:
    """One test in one run: the verdict and why."""

    run: int
    seed: int
    verdict: str
    reason: str


@dataclass
class RunResult:
    run: int
    seed: int
    wall_s: float
    exit_status: int | None
    tests: dict[str, Outcome] = field(default_factory=dict)
    problem: str = ""  # the run produced no results at all (crashed, hung): every test counts as not passed


def harness_command(seed: int, reports: Path, a: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "harness.cli", "run",
           "--seed", str(seed), "--reports", str(reports), "--no-allure-report"]
    if a.rig:
        cmd += ["--rig", a.rig]
    if a.profile:
        cmd += ["--profile", a.profile]
    for rule in a.rule:
        cmd += ["--rule", rule]
    if a.keyword:
        cmd += ["-k", a.keyword]
    if a.workers:
        cmd += ["-n", str(a.workers)]
    return cmd + a.suites


def one_run(index: int, seed: int, a: argparse.Namespace, workdir: Path) -> RunResult:
    reports = workdir / f"run-{index:03d}-{seed}"
    started = time.monotonic()
    try:
        done = subprocess.run(harness_command(seed, reports, a), cwd=ROOT, capture_output=True, text=True,
                              timeout=a.timeout, check=False)
    except subprocess.TimeoutExpired:
        return RunResult(index, seed, time.monotonic() - started, None,
                         problem=f"no result within {a.timeout:.0f} s (the run was stopped)")
    result = RunResult(index, seed, time.monotonic() - started, done.returncode)
    (reports / "harness-output.txt").parent.mkdir(parents=True, exist_ok=True)
    (reports / "harness-output.txt").write_text(done.stdout + done.stderr, encoding="utf-8")
    try:
        record = json.loads((reports / "results.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        tail = (done.stderr.strip().splitlines() or done.stdout.strip().splitlines() or ["no output"])[-1]
        result.problem = f"no results.json ({exc.__class__.__name__}); exit {done.returncode}: {tail}"
        return result
    for test in record.get("tests", []):
        result.tests[test["nodeid"]] = Outcome(index, seed, test["verdict"], test.get("reason", ""))
    if not result.tests:
        result.problem = f"no test ran; exit {done.returncode}"
    return result


def tally(results: list[RunResult]) -> dict[str, Any]:
    """Per test: how many runs it took part in and every outcome that was not `pass`."""
    runs_of: dict[str, int] = defaultdict(int)
    misses: dict[str, list[Outcome]] = defaultdict(list)
    for r in results:
        for nodeid, outcome in r.tests.items():
            runs_of[nodeid] += 1
            if outcome.verdict != "pass":
                misses[nodeid].append(outcome)
    broken = [r for r in results if r.problem]
    return {
        "runs": len(results),
        "broken_runs": [{"run": r.run, "seed": r.seed, "problem": r.problem} for r in broken],
        "tests": {n: {"runs": runs_of[n], "not_pass": len(misses[n]),
                      "outcomes": [vars(o) for o in misses[n]]} for n in sorted(runs_of)},
        "not_pass": sum(len(m) for m in misses.values()) + len(broken),
    }


def print_report(summary: dict[str, Any], results: list[RunResult]) -> None:
    print(f"{summary['runs']} runs of the conformance run on the compliant vECU, random seeds: "
          + ", ".join(str(r.seed) for r in results))
    walls = sorted(r.wall_s for r in results)
    print(f"wall time per run: median {walls[len(walls) // 2]:.0f} s, longest {walls[-1]:.0f} s\n")
    width = max([len(n) for n in summary["tests"]] + [4])
    print(f"{'test':<{width}} {'runs':>4} {'not pass':>8}")
    for nodeid, t in summary["tests"].items():
        print(f"{nodeid:<{width}} {t['runs']:>4} {t['not_pass']:>8}")
        for o in t["outcomes"]:
            print(f"{'':<4}run {o['run']} seed {o['seed']}: {o['verdict']}: {o['reason']}")
    for b in summary["broken_runs"]:
        print(f"run {b['run']} seed {b['seed']} gave no verdicts: {b['problem']}")
    print(f"\nnot pass: {summary['not_pass']} outcomes in {summary['runs']} runs "
          f"({len(summary['tests'])} tests per run)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("suites", nargs="*", help="suite directories or test ids (default: all suites)")
    p.add_argument("--runs", type=int, default=20, help="how many conformance runs (default 20)")
    p.add_argument("--rule", action="append", default=[], help="only the tests of this rule (repeatable)")
    p.add_argument("-k", dest="keyword", help="only tests matching this pytest -k expression")
    p.add_argument("--rig", help="rig file (default: the harness's default, the virtual rig)")
    p.add_argument("--profile", help="regulatory profile (default: the harness's default)")
    p.add_argument("-n", "--workers", type=int, default=0, help="virtual rigs in parallel within each run")
    p.add_argument("--seeds", type=int, nargs="+", help="replay these seeds instead of drawing --runs new ones")
    p.add_argument("--timeout", type=float, default=RUN_TIMEOUT_S, help="seconds one run may take")
    p.add_argument("--keep", type=Path, help="keep every run's reports under this directory")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    a = p.parse_args()
    if os.geteuid() != 0:
        print("error: must run as root (the virtual rig creates network namespaces)", file=sys.stderr)
        return 2
    if a.runs < 1:
        print("error: --runs must be at least 1", file=sys.stderr)
        return 2
    seeds = a.seeds or [secrets.randbelow(2**32) for _ in range(a.runs)]
    results: list[RunResult] = []
    with tempfile.TemporaryDirectory(prefix="stability-") as tmp:
        workdir = a.keep or Path(tmp)
        try:
            for i, seed in enumerate(seeds, 1):
                r = one_run(i, seed, a, workdir)
                results.append(r)
                misses = sum(1 for o in r.tests.values() if o.verdict != "pass")
                print(f"run {i}/{len(seeds)} seed {seed}: {len(r.tests)} tests, {misses} not pass, "
                      f"{r.wall_s:.0f} s{'; ' + r.problem if r.problem else ''}", file=sys.stderr, flush=True)
        except KeyboardInterrupt:
            print("interrupted: the figures below cover the finished runs only", file=sys.stderr)
    if not results:
        return 130
    summary = tally(results)
    if a.json:
        print(json.dumps({**summary, "seeds": [r.seed for r in results]}, indent=2))
    else:
        print_report(summary, results)
    return 0 if summary["not_pass"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
