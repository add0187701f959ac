"""The top-level conftest.py: `pytest suites/...` in a checkout gets what `harness run` passes (a reports
directory and one hypothesis seed for the run); `harness run`'s own options and `pytest tests` are untouched."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.harness_runner import ROOT

CONSENT = "suites/minimization/test_consent.py"
# pytest collects only, once per command line, with a probe plugin that prints the options as the harness
# plugin reads them (one process for all, as the imports dominate)
PROBE = """
import json, sys, pytest
class Probe:
    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config):
        seen.append({"reports": config.getoption("--harness-reports"), "seed": config.getoption("--hypothesis-seed")})
seen = []
for args in json.loads(sys.argv[1]):
    assert pytest.main(args + ["--collect-only", "-q", "-p", "no:cacheprovider"], plugins=[Probe()]) == 0, args
print("OPTIONS " + json.dumps(seen))
"""
RUNS = [
    [CONSENT],
    [CONSENT],
    [CONSENT, "--harness-reports", "/tmp/elsewhere", "--hypothesis-seed", "7"],
    ["tests/test_config.py"],
    ["tests/test_config.py", CONSENT],
]


def test_pytest_on_suites_gets_reports_and_one_seed_and_nothing_else_changes() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(RUNS)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr
    line = next(line for line in done.stdout.splitlines() if line.startswith("OPTIONS "))
    first, second, given, harness_tests, mixed = json.loads(line.removeprefix("OPTIONS "))
    assert first["reports"] == str(ROOT / "reports") and first["seed"].isdigit()
    assert second["seed"] != first["seed"]  # a fresh seed per run
    assert given == {"reports": "/tmp/elsewhere", "seed": "7"}  # what harness run passes is kept
    assert harness_tests == mixed == {"reports": None, "seed": None}
