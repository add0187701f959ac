"""The compliance matrix: clause x test x verdict with the evidence behind each verdict, from a run
record, as rows for the HTML report and as CSV and JSON files.

Every clause of the profile gets a row, tested or not, so an approval body sees the gaps too."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

NOT_TESTED = "not tested"
COLUMNS = ("rule", "clause", "clause_title", "severity", "test", "name", "verdict", "reason", "evidence")


def _test_clauses(test: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(rule, clause id, title) for each clause the test names."""
    out = []
    rules = [str(r) for r in test.get("rules") or ()]
    for clause in test.get("clauses") or ():
        if isinstance(clause, Mapping):
            rule = str(clause.get("rule") or (rules[0] if len(rules) == 1 else ""))
            out.append((rule, str(clause.get("id") or ""), str(clause.get("title") or "")))
        elif clause:
            out.append((rules[0] if len(rules) == 1 else "", str(clause), ""))
    return out


def matrix_rows(run: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per (clause, test); a clause no test covers gets one row with verdict `not tested`."""
    return [row for row, _ in matrix_entries(run)]


def matrix_entries(run: Mapping[str, Any]) -> list[tuple[dict[str, str], int | None]]:
    """The matrix rows, each with the index of its test in run["tests"] (None for an untested clause).

    Rows follow the profile's order of rules and clauses; clauses the profile does not list (a test
    naming a rule of another profile) come after, then tests that name no clause at all."""
    tests = [t for t in run.get("tests") or () if isinstance(t, Mapping)]
    by_clause: dict[tuple[str, str], list[tuple[int, str]]] = {}
    unmapped: list[int] = []
    titles: dict[tuple[str, str], str] = {}
    for index, test in enumerate(tests):
        clauses = _test_clauses(test)
        if not clauses:
            unmapped.append(index)
        for rule, cid, title in clauses:
            by_clause.setdefault((rule, cid), []).append((index, title))
            titles.setdefault((rule, cid), title)
    severity = {str(c.get("rule")): str(c.get("severity") or "") for c in run.get("profile_clauses") or ()}
    order: list[tuple[str, str]] = []
    for clause in run.get("profile_clauses") or ():
        key = (str(clause.get("rule") or ""), str(clause.get("id") or ""))
        if key not in titles:
            titles[key] = str(clause.get("title") or "")
        if key not in order:
            order.append(key)
    order += [key for key in by_clause if key not in order]
    rows: list[tuple[dict[str, str], int | None]] = []
    for key in order:
        rule, cid = key
        covering = by_clause.get(key) or []
        if not covering:
            rows.append((_row(rule, cid, titles[key], severity.get(rule, ""), None), None))
        rows += [(_row(rule, cid, titles[key] or title, severity.get(rule, ""), tests[i]), i) for i, title in covering]
    rows += [(_row(", ".join(str(r) for r in tests[i].get("rules") or ()), "", "", "", tests[i]), i)
             for i in unmapped]
    return rows


def _row(rule: str, cid: str, title: str, severity: str, test: Mapping[str, Any] | None) -> dict[str, str]:
    evidence = (test.get("evidence") or {}) if test is not None else {}
    return {
        "rule": rule, "clause": cid, "clause_title": title, "severity": severity,
        "test": str(test.get("nodeid") or "") if test is not None else "",
        "name": str(test.get("name") or test.get("nodeid") or "") if test is not None else "",
        "verdict": str(test.get("verdict") or "") if test is not None else NOT_TESTED,
        "reason": str(test.get("reason") or "") if test is not None else "",
        "evidence": str(evidence.get("capture") or "") if isinstance(evidence, Mapping) else "",
    }


def matrix_csv(run: Mapping[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in matrix_rows(run):
        # a spreadsheet would run a cell starting with = + - @ as a formula; the reason quotes the vehicle
        writer.writerow({k: ("'" + v if v[:1] in ("=", "+", "-", "@") else v) for k, v in row.items()})
    return out.getvalue()


def matrix_json(run: Mapping[str, Any]) -> dict[str, Any]:
    rows = matrix_rows(run)
    clauses = {(r["rule"], r["clause"]) for r in rows if r["clause"]}
    tested = {(r["rule"], r["clause"]) for r in rows if r["clause"] and r["verdict"] != NOT_TESTED}
    return {"profile": run.get("profile"), "started": run.get("started"), "verdict": run.get("verdict"),
            "clauses": len(clauses), "clauses_tested": len(tested), "rows": rows}


def write_matrix(run: Mapping[str, Any], reports: Path) -> None:
    """matrix.csv and matrix.json beside the HTML report; evidence paths are relative to `reports`."""
    (reports / "matrix.csv").write_text(matrix_csv(run), encoding="utf-8")
    (reports / "matrix.json").write_text(json.dumps(matrix_json(run), indent=2, ensure_ascii=False) + "\n",
                                         encoding="utf-8")
