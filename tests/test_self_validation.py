"""Self-validation: every suite test fails on the vECU defect that breaks its rule and passes on
the compliant vECU, judged from captured traffic in a real run of `harness run`."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.vecu.defects import load_catalogue
from tests.harness_runner import RunResult, harness_run, leftover_namespaces

CATALOGUE = load_catalogue()


@pytest.fixture(scope="module")
def compliant(compliant_run: RunResult) -> RunResult:
    return compliant_run  # the session's one full compliant run (tests/conftest.py)


def test_compliant_vecu_passes_every_suite_test(compliant: RunResult) -> None:
    assert compliant.status == 0, compliant.stdout[-3000:] + compliant.stderr
    verdicts = compliant.verdicts()
    assert verdicts and set(verdicts.values()) == {"pass"}, verdicts
    assert "overall verdict PASS" in compliant.stdout


def test_every_rule_with_a_defect_has_a_suite_test(compliant: RunResult) -> None:
    rules = {rule for test in compliant.results["tests"] for rule in test["rules"]}
    assert {d.rule for d in CATALOGUE.values()} <= rules


def test_reports_are_written(compliant: RunResult) -> None:
    reports = compliant.reports
    assert (reports / "junit.xml").is_file() and (reports / "index.html").is_file()
    assert any((reports / "allure-results").glob("*-result.json"))
    # a report about data leaving the vehicle must not make the browser contact anything
    html = (reports / "index.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html and "src=" not in html
    assert all(t["name"] in html for t in compliant.results["tests"])
    for test in compliant.results["tests"]:
        capture = reports / test["evidence"]["capture"]
        assert capture.is_file() and capture.stat().st_size > 1000
        assert test["capture_stats"]["dropped"] == 0 and test["capture_stats"]["capture_reported"]
        assert test["findings"], test["name"]


@pytest.mark.parametrize("defect", sorted(CATALOGUE))
def test_suite_catches_seeded_defect(defect: str, tmp_path: Path) -> None:
    rule, caught_by = CATALOGUE[defect].rule, CATALOGUE[defect].caught_by
    # only the tests of the broken rule: the compliant run above shows every test passes without it;
    # a defect that drops one condition of a rule names the test that proves that condition
    only = ("-k", caught_by) if caught_by else ()
    run = harness_run(tmp_path, "--vecu-defect", defect, "--rule", rule, *only)
    tests = run.results["tests"]
    catching = [t for t in tests if rule in t["rules"]]
    assert catching and len(catching) == len(tests), f"no suite test covers {rule}"
    assert not caught_by or [t["name"] for t in tests] == [caught_by], (caught_by, [t["name"] for t in tests])
    expected = CATALOGUE[defect].verdict
    for test in tests:
        assert test["verdict"] == expected, (test["name"], test["verdict"], test["reason"])
    failing = [t for t in catching if t["verdict"] == expected]
    # the report names the clause and the evidence of the violation
    assert all(f["clause"] for t in failing for f in t["findings"] if f["verdict"] == expected)
    assert all((tmp_path / t["evidence"]["capture"]).is_file() for t in failing)
    assert run.status == {"fail": 1, "inconclusive": 3}[expected]
    assert not leftover_namespaces(run)
