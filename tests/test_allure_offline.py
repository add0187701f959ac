"""Allure output: results labelled by rule family, rule, clause and severity with the judgment attached;
the rendered HTML report with no external URL on any page, even where a generator embeds analytics."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from harness.policy.profile import load_profile
from harness.report.allure_render import clean_page, external_urls, render
from harness.report.allure_results import SEVERITY_ORDER
from tests.harness_runner import RunResult

# the tail of a page Allure 3.x renders even with ALLURE_NO_ANALYTICS=true (seen with 3.18)
ALLURE3_TAIL = """<script>
  window.allure = window.allure || {};
</script>
<script   src="app-b3323b2606f19801ef1b.js"></script>
<script async src="https://www.googletagmanager.com/gtag/js?id=G-TEST"></script>
<script>
    window.dataLayer = window.dataLayer || [];
    function gtag(){dataLayer.push(arguments);}
    gtag('js', new Date());
    gtag('config', 'G-TEST', {"report": "awesome"});
</script>
<link rel="preconnect" href="//fonts.example.com">
<svg xmlns="http://www.w3.org/2000/svg"></svg>
<a href="https://allurereport.org/docs">docs</a>
</body></html>"""


def _results(run: RunResult) -> list[dict[str, object]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in (run.reports / "allure-results").glob("*-result.json")]


def test_results_carry_family_rule_clause_and_severity_labels(compliant_run: RunResult) -> None:
    profile = load_profile(compliant_run.results["profile"])
    results = {str(r["name"]): r for r in _results(compliant_run)}
    for test in compliant_run.results["tests"]:
        labels: dict[str, set[str]] = {}
        for label in results[test["name"]]["labels"]:  # type: ignore[attr-defined]
            labels.setdefault(label["name"], set()).add(label["value"])
        assert labels["epic"] == {rule.split(".")[0] for rule in test["rules"]}
        assert labels["feature"] == set(test["rules"])
        assert labels["story"] == {c["id"] for c in test["clauses"]}
        # a test verifying several rules carries the most severe of them
        severities = [profile.rule(rule).severity for rule in test["rules"]]
        assert labels["severity"] == {max(severities, key=SEVERITY_ORDER.index)}


def test_results_attach_findings_and_a_capture_excerpt(compliant_run: RunResult) -> None:
    folder = compliant_run.reports / "allure-results"
    for result in _results(compliant_run):
        attached = {a["name"]: folder / a["source"] for a in result["attachments"]}  # type: ignore[attr-defined]
        assert {"findings", "findings (decoded, JSON)", "capture excerpt"} <= set(attached)
        findings = json.loads(attached["findings (decoded, JSON)"].read_text(encoding="utf-8"))
        assert findings and all(f["clause"] and f["verdict"] for f in findings)
        excerpt = attached["capture excerpt"].read_text(encoding="utf-8")
        assert "flows (" in excerpt and "CAN messages decoded" in excerpt


def test_rendered_allure_pages_hold_no_external_url(compliant_run: RunResult) -> None:
    report = compliant_run.reports / "allure-report"
    if not (report / "index.html").is_file():
        if os.environ.get("CI"):
            pytest.fail("no Allure report was rendered: scripts/bootstrap --dev installs the generator")
        pytest.skip("no Allure generator installed (scripts/bootstrap --dev installs one)")
    assert "Allure report (allure " in compliant_run.stdout
    pages = sorted(report.rglob("*.html"))
    assert pages
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert external_urls(text) == [], page
        assert "googletagmanager" not in text and "gtag(" not in text, page


def test_analytics_and_external_links_are_stripped_from_a_page() -> None:
    cleaned, dropped = clean_page("<html><head></head><body>" + ALLURE3_TAIL)
    assert external_urls(cleaned) == []
    assert "gtag" not in cleaned and "googletagmanager" not in cleaned
    assert '<script   src="app-b3323b2606f19801ef1b.js"></script>' in cleaned  # the report's own code stays
    assert 'xmlns="http://www.w3.org/2000/svg"' in cleaned  # a namespace name is not a reference
    assert len(dropped) == 4


def test_render_sets_no_analytics_and_neutralises_what_the_generator_embeds(tmp_path: Path) -> None:
    """A stand-in generator that behaves like Allure 3: it embeds a tag script whatever it is told."""
    seen = tmp_path / "environment"
    tool = tmp_path / "allure"
    tool.write_text(f"""#!/bin/sh
if [ "$1" = "--version" ]; then echo 3.18.0; exit 0; fi
env > {seen}
mkdir -p "$4/sub"
printf '%s' '<html><body>{ALLURE3_TAIL.replace("'", "")}' > "$4/index.html"
cp "$4/index.html" "$4/sub/page.html"
""", encoding="utf-8")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    results = tmp_path / "allure-results"
    results.mkdir()
    report = render(results, tmp_path / "allure-report", tool)
    assert report is not None and report.generator == "allure 3.18.0"
    assert "ALLURE_NO_ANALYTICS=true" in seen.read_text(encoding="utf-8").splitlines()
    for page in (report.path / "index.html", report.path / "sub" / "page.html"):
        assert external_urls(page.read_text(encoding="utf-8")) == []
    assert len(report.removed) == 8
