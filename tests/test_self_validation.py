"""Self-validation: every suite test fails on the vECU defect that breaks its rule and passes on
the compliant vECU, judged from captured traffic in a real run of `harness run`."""

from __future__ import annotations

from itertools import zip_longest
from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.vecu.defects import Defect, catching_tests, load_catalogue, validate
from tests.harness_runner import ROOT, RunResult, harness_run, leftover_namespaces

CATALOGUE = load_catalogue()
SUITES = ROOT / "suites"
# rules judged from what the vehicle uploads; the others (OTA, diagnostics) from campaigns and
# diagnostic sessions, which no upload test starts and no upload defect touches
UPLOAD_FAMILIES = ("locality", "minimization")


def batches(catalogue: dict[str, Defect]) -> list[tuple[str, ...]]:
    """Defects that share one vECU run, each pair an upload rule's defect and an OTA rule's: neither
    defect acts in the other's tests, so each test still fails for its own rule's defect only (and
    a run costs one rig start instead of two). Sorted, so a batch is the same in every run."""
    uploads = sorted(n for n, d in catalogue.items() if d.rule.split(".")[0] in UPLOAD_FAMILIES)
    others = sorted(n for n in catalogue if n not in uploads)
    return [tuple(n for n in pair if n) for pair in zip_longest(uploads, others)]


BATCHES = batches(CATALOGUE)
BATCH_OF = {name: batch for batch in BATCHES for name in batch}


@pytest.fixture(scope="module")
def compliant(compliant_run: RunResult) -> RunResult:
    return compliant_run  # the session's one full compliant run (tests/conftest.py)


@pytest.fixture(scope="module")
def batch_runs() -> dict[tuple[str, ...], RunResult]:
    return {}  # one `harness run` per batch, read by each defect's test of the batch


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


def test_batches_pair_one_defect_per_rule_and_keep_every_defect() -> None:
    assert sorted(n for batch in BATCHES for n in batch) == sorted(CATALOGUE)
    for batch in BATCHES:
        assert len({CATALOGUE[n].rule for n in batch}) == len(batch), batch
        assert validate(batch) == batch


def test_two_defects_of_one_rule_are_refused(tmp_path: Path) -> None:
    same = sorted(n for n, d in CATALOGUE.items() if d.rule == "locality.regulated-data")[:2]
    with pytest.raises(ConfigError, match="both break locality.regulated-data"):
        validate(same)
    run = harness_run(tmp_path, *(a for n in same for a in ("--vecu-defect", n)))
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert run.status == 2 and len(lines) == 1 and "both break" in lines[0], run.stderr
    assert not (tmp_path / "results.json").exists()


def _batch_run(batch: tuple[str, ...], runs: dict[tuple[str, ...], RunResult],
               tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    if batch not in runs:
        args = [a for name in batch for a in ("--vecu-defect", name, "--rule", CATALOGUE[name].rule)]
        selection = [s for name in batch for s in catching_tests(CATALOGUE[name], SUITES)]
        runs[batch] = harness_run(tmp_path_factory.mktemp("defects"), *selection, *args)
    return runs[batch]


@pytest.mark.parametrize("defect", [pytest.param(name, marks=pytest.mark.xdist_group(f"defects-{'+'.join(batch)}"))
                                    for batch in BATCHES for name in batch])
def test_suite_catches_seeded_defect(defect: str, batch_runs: dict[tuple[str, ...], RunResult],
                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    rule, caught_by, expected = CATALOGUE[defect].rule, CATALOGUE[defect].caught_by, CATALOGUE[defect].verdict
    batch = BATCH_OF[defect]
    run = _batch_run(batch, batch_runs, tmp_path_factory)
    tests = run.results["tests"]
    rules = {CATALOGUE[name].rule for name in batch}
    # each test of the run verifies the rule of exactly one defect of the batch: its verdict has one cause
    assert all(len(rules & set(t["rules"])) == 1 for t in tests), [(t["name"], t["rules"]) for t in tests]
    catching = [t for t in tests if rule in t["rules"]]
    assert catching, f"no suite test covers {rule}"
    # a defect that drops one condition of a rule names the test that proves that condition
    assert not caught_by or [t["name"] for t in catching] == [caught_by], (caught_by, [t["name"] for t in catching])
    for test in catching:
        assert test["verdict"] == expected, (test["name"], test["verdict"], test["reason"])
    # the report names the clause and the evidence of the violation
    assert all(f["clause"] for t in catching for f in t["findings"] if f["verdict"] == expected)
    assert all((run.reports / t["evidence"]["capture"]).is_file() for t in catching)
    worst = "fail" if "fail" in {CATALOGUE[name].verdict for name in batch} else "inconclusive"
    assert run.status == {"fail": 1, "inconclusive": 3}[worst]
    assert not leftover_namespaces(run)
