"""The test command of one mutant of bench/mutation.py: what the project's own tests would ask of the
vECU, limited to one group's rules. First `harness run` of the group's rules on the compliant vECU;
then, for each seeded defect of those rules, `harness run --vecu-defect NAME` of the tests that catch
it (as tests/test_self_validation.py selects them), which must give the verdict the catalogue
expects. A mutant that changes only a defect's branch passes the first and fails the second.

Exit 0 when every run is as expected (the mutant survives), 1 at the first that is not (killed).
Runs from the tree it is in (cosmic-ray's copy), never the checkout:
    python bench/mutation_check.py GROUP [--keyword EXPR] [--reports DIR]"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness.findings import Verdict  # noqa: E402
from harness.vecu.defects import Defect, catching_tests, load_catalogue  # noqa: E402

# the rules whose tests judge each group of decision code (bench/mutation.py names the code)
RULES: dict[str, tuple[str, ...]] = {
    "ota-safety": ("ota.safe-state", "ota.drive-inhibit", "ota.diagnostic-session-safety"),
    "ota-flow": ("ota.notice", "ota.consent", "ota.rollback", "ota.result-notice"),
    "privacy": ("minimization.consent", "minimization.precision", "minimization.in-vehicle-processing"),
}
# the stateful exploration judges safe states too, but at random: the tests that prove each condition
KEYWORD = "not update_sequences"
SEED = 20260101


def harness_run(reports: Path, keyword: str, *args: str) -> tuple[int, list[dict[str, str]], str]:
    """Exit status, the tests' records and the output's tail of one `harness run` in this tree; the
    first test that does not pass ends it (-x): for a defect that is the catch, for the compliant
    vECU the kill."""
    env = {**os.environ, "PYTEST_ADDOPTS": f"{os.environ.get('PYTEST_ADDOPTS', '')} -x".strip()}
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", *args, "-k", keyword, "--seed", str(SEED),
                           "--no-allure-report", "--reports", str(reports)],
                          cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    results = reports / "results.json"
    tests = json.loads(results.read_text(encoding="utf-8"))["tests"] if results.is_file() else []
    return done.returncode, tests, (done.stdout + done.stderr)[-1500:]


def not_caught(defect: Defect, keyword: str, reports: Path) -> str | None:
    """Why the defect's run is not the catch tests/test_self_validation.py asserts, or None: each test
    that ran must give the expected verdict, and so must the run."""
    status, tests, tail = harness_run(reports, keyword, *catching_tests(defect, ROOT / "suites"),
                                      "--vecu-defect", defect.name, "--rule", defect.rule)
    expected = Verdict(defect.verdict)
    wrong = [f"{t['name']}: {t['verdict']}" for t in tests if t["verdict"] != expected.value]
    if not tests or wrong or status != expected.exit_status:
        detail = "; ".join(wrong) if tests else "no test ran"
        return f"defect {defect.name} not caught as {expected.value} (exit {status}; {detail})\n{tail}"
    return None


def defects_of(group: str) -> list[Defect]:
    return [d for _, d in sorted(load_catalogue().items()) if d.rule in RULES[group]]


def check(group: str, keyword: str, reports: Path) -> str | None:
    """Why the tree fails the group's tests, or None when it passes them all."""
    rules = [a for rule in RULES[group] for a in ("--rule", rule)]
    status, _, tail = harness_run(reports / "compliant", keyword, *rules)
    if status != 0:
        return f"the compliant vECU does not pass (exit {status})\n{tail}"
    for defect in defects_of(group):
        reason = not_caught(defect, keyword, reports / defect.name)
        if reason:
            return reason
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("group", choices=sorted(RULES))
    parser.add_argument("--keyword", default=KEYWORD, help=f"pytest -k of the suite tests run (default {KEYWORD!r})")
    parser.add_argument("--reports", type=Path, default=Path("reports/mutation"), help="where each run reports")
    args = parser.parse_args(argv)
    reason = check(args.group, args.keyword, args.reports)
    print(reason or f"{args.group}: the compliant vECU passes and every defect of its rules is caught")
    return 1 if reason else 0


if __name__ == "__main__":
    sys.exit(main())
