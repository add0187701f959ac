"""The report's models on small records: the canonical form of findings that makes replay comparable
byte for byte, the compliance matrix as CSV and JSON, run comparison, and the progress line."""

from __future__ import annotations

import csv
import io
import random
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.findings import Finding, Verdict
from harness.report.compare import compare
from harness.report.judgment import canonical, conclude, findings_json, json_params
from harness.report.matrix import NOT_TESTED, matrix_csv, matrix_json, matrix_rows
from harness.report.progress import SuiteProgress


def _findings() -> list[Finding]:
    return [
        Finding("locality", Verdict.PASS, "C1", "3 of 3 flows stay inside CN"),
        Finding("locality", Verdict.FAIL, "C1", "location sent to EU", "198.51.100.2:4000", "203.0.113.200:32960",
                "EU", "gbt32960", ("vin", "location"), 1764064800.25),
        Finding("locality", Verdict.PASS, "C1", "domestic", "198.51.100.2:4001", "203.0.113.20:32960", "CN",
                "gbt32960", ("vehicle_state", "location", "vin"), 1764064800.125),
        Finding("locality", Verdict.INCONCLUSIVE, "C1", "capture incomplete: drops"),
    ]


def test_canonical_findings_do_not_depend_on_the_order_a_check_built_them_in() -> None:
    findings = _findings()
    expected = findings_json(canonical(findings))
    rng = random.Random(7)
    for _ in range(20):
        shuffled = [Finding(**{**f.to_dict(), "verdict": f.verdict,
                               "categories": tuple(rng.sample(f.categories, len(f.categories)))})
                    for f in rng.sample(findings, len(findings))]
        assert findings_json(canonical(shuffled)) == expected
    ordered = canonical(findings)
    assert [f.time for f in ordered][:2] == [1764064800.125, 1764064800.25]  # the capture's order first
    assert ordered[0].categories == ("location", "vehicle_state", "vin")
    assert conclude(ordered) == (Verdict.FAIL, "location sent to EU [198.51.100.2:4000 -> 203.0.113.200:32960]")
    assert conclude([]) == (Verdict.INCONCLUSIVE, "the check returned no findings")


def test_recorded_findings_compare_equal_to_live_ones() -> None:
    live = canonical(_findings())
    recorded: list[dict[str, Any]] = [f.to_dict() for f in live]
    assert findings_json(recorded) == findings_json(live)
    recorded[1]["time"] += 1e-6
    assert findings_json(recorded) != findings_json(live)


def test_check_parameters_are_what_json_gives_back() -> None:
    assert json_params("c", {"window": (1, 2), "b": True}) == {"b": True, "window": [1, 2]}
    with pytest.raises(ConfigError, match="JSON values"):
        json_params("c", {"when": object()})
    with pytest.raises(ConfigError):
        json_params("c", {"x": float("nan")})


def _test(nodeid: str, verdict: str, rule: str, clauses: list[str], findings: list[dict[str, Any]] | None = None,
          ) -> dict[str, Any]:
    return {"nodeid": nodeid, "name": nodeid.split("::")[-1], "verdict": verdict, "rules": [rule],
            "reason": f"{verdict} reason", "clauses": [{"id": c, "title": f"title {c}", "rule": rule} for c in clauses],
            "evidence": {"capture": f"evidence/{nodeid.split('::')[-1]}/capture.pcapng"},
            "findings": findings or []}


RUN = {
    "profile": "cn", "started": "2026-11-25T10:00:00Z", "verdict": "fail",
    "profile_clauses": [
        {"rule": "a.one", "id": "A 1", "title": "first", "severity": "critical"},
        {"rule": "a.one", "id": "A 2", "title": "second", "severity": "critical"},
        {"rule": "b.two", "id": "B 1", "title": "untested", "severity": "normal"},
    ],
    "tests": [_test("s/a.py::test_x", "pass", "a.one", ["A 1", "A 2"]),
              _test("s/a.py::test_y", "fail", "a.one", ["A 1", "A 2"]),
              _test("s/c.py::test_z", "error", "c.three", ["=HYPERLINK(1)"])],
}


def test_matrix_lists_every_clause_tested_or_not_with_the_evidence() -> None:
    rows = matrix_rows(RUN)
    assert [(r["clause"], r["name"], r["verdict"]) for r in rows] == [
        ("A 1", "test_x", "pass"), ("A 1", "test_y", "fail"), ("A 2", "test_x", "pass"), ("A 2", "test_y", "fail"),
        ("B 1", "", NOT_TESTED), ("=HYPERLINK(1)", "test_z", "error")]
    assert rows[1]["evidence"] == "evidence/test_y/capture.pcapng" and rows[0]["severity"] == "critical"
    summary = matrix_json(RUN)
    assert summary["clauses"] == 4 and summary["clauses_tested"] == 3 and summary["rows"] == rows
    parsed = list(csv.DictReader(io.StringIO(matrix_csv(RUN))))
    assert [r["clause"] for r in parsed] == ["A 1", "A 1", "A 2", "A 2", "B 1", "'=HYPERLINK(1)"]


def _problem(dst: str) -> dict[str, Any]:
    return {"check": "locality", "verdict": "fail", "clause": "A 1", "dst": dst, "region": "EU",
            "protocol": "mqtt", "categories": ["location"], "src": "198.51.100.2:1234", "time": 1.0}


def test_compare_sorts_changes_into_kinds() -> None:
    old = {"started": "day 1", "tests": [
        _test("t::fixed", "fail", "a.one", []), _test("t::broke", "pass", "a.one", []),
        _test("t::unsure", "pass", "a.one", []), _test("t::crashed", "fail", "a.one", []),
        _test("t::moved", "fail", "a.one", [], [_problem("203.0.113.200:1883")]),
        _test("t::same", "fail", "a.one", [], [_problem("203.0.113.200:1883")]),
        _test("t::gone", "pass", "a.one", [])]}
    same_problem_other_port = dict(_problem("203.0.113.200:1883"), src="198.51.100.2:9999", time=2.0)
    new = {"started": "day 2", "tests": [
        _test("t::fixed", "pass", "a.one", []), _test("t::broke", "fail", "a.one", []),
        _test("t::unsure", "inconclusive", "a.one", []), _test("t::crashed", "error", "a.one", []),
        _test("t::moved", "fail", "a.one", [], [_problem("203.0.113.201:1883")]),
        _test("t::same", "fail", "a.one", [], [same_problem_other_port]),
        _test("t::new", "pass", "a.one", [])]}
    result = compare(old, new)
    kinds = {c.nodeid: c.kind for c in result.changes}
    assert kinds == {"t::fixed": "fixed", "t::broke": "new_fail", "t::unsure": "new_inconclusive",
                     "t::crashed": "new_error", "t::moved": "changed", "t::new": "added", "t::gone": "removed"}
    assert result.unchanged == 1 and result.regressed
    assert "new fails: 1" in result.text() and "FAIL -> ERROR" in result.text()
    assert not compare(new, new).regressed


def test_progress_line_per_suite() -> None:
    progress = SuiteProgress({"locality": 2, "ota": 2})
    first = progress.finished("locality", "pass", 10.0)
    assert "locality [##########----------] 1/2" in first and "run 1/4" in first and "~30s left" in first
    second = progress.finished("locality", "fail", 10.0)
    assert "2/2 (1 fail)" in second
    progress.finished("ota", "pass", 10.0)
    last = progress.finished("ota", "pass", 10.0)
    assert "run 4/4" in last and "left" not in last
