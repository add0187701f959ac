"""Allure output: results labelled by rule family, rule, clause and severity with the judgment attached;
the rendered HTML report with no external URL on any page, even where a generator embeds analytics."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from harness.policy.profile import load_profile
from harness.report import loopback
from harness.report.allure_render import clean_page, external_urls, render
from harness.report.allure_results import SEVERITY_ORDER
from harness.report.loopback import unavailable
from harness.report.timeline_svg import safe_svg
from harness.rig import netns
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
        assert {"findings", "findings (decoded, JSON)", "capture excerpt", "timeline"} <= set(attached)
        assert safe_svg(attached["timeline"].read_text(encoding="utf-8"))
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
    if not unavailable():
        assert "offline, network: lo only)" in compliant_run.stdout
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


def _stand_in(tmp_path: Path) -> Path:
    """A stand-in generator that behaves like Allure 3 (it embeds a tag script whatever it is told) and
    writes down its environment and the network it sees."""
    tool = tmp_path / "allure"
    tool.write_text(f"""#!/bin/sh
if [ "$1" = "--version" ]; then echo 3.18.0; exit 0; fi
env > {tmp_path / "environment"}
cat /proc/self/net/dev > {tmp_path / "net-dev"}
readlink /proc/self/ns/net > {tmp_path / "net-ns"}
mkdir -p "$4/sub"
printf '%s' '<html><body>{ALLURE3_TAIL.replace("'", "")}' > "$4/index.html"
cp "$4/index.html" "$4/sub/page.html"
""", encoding="utf-8")
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "allure-results").mkdir()
    return tool


def _seen_interfaces(net_dev: Path) -> list[str]:
    lines = net_dev.read_text(encoding="utf-8").splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines if ":" in line)


def test_render_sets_no_analytics_and_neutralises_what_the_generator_embeds(tmp_path: Path) -> None:
    report = render(tmp_path / "allure-results", tmp_path / "allure-report", _stand_in(tmp_path))
    assert report is not None and report.generator == "allure 3.18.0"
    assert "ALLURE_NO_ANALYTICS=true" in (tmp_path / "environment").read_text(encoding="utf-8").splitlines()
    for page in (report.path / "index.html", report.path / "sub" / "page.html"):
        assert external_urls(page.read_text(encoding="utf-8")) == []
    assert len(report.removed) == 8


def test_the_generator_runs_where_only_loopback_exists(tmp_path: Path) -> None:
    """As root, the generator's process sees a namespace of its own with no interface but lo, removed after."""
    if unavailable():
        pytest.skip(unavailable())
    before = set(netns.listed())
    report = render(tmp_path / "allure-results", tmp_path / "allure-report", _stand_in(tmp_path))
    assert report is not None and report.network == "network: lo only"
    assert _seen_interfaces(tmp_path / "net-dev") == ["lo"]
    assert (tmp_path / "net-ns").read_text(encoding="utf-8").strip() != os.readlink("/proc/self/ns/net")
    assert not [n for n in set(netns.listed()) - before if n.startswith(netns.owned_prefix())]


def test_without_root_the_generator_runs_and_says_it_is_not_isolated(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loopback.os, "geteuid", lambda: 1000)
    report = render(tmp_path / "allure-results", tmp_path / "allure-report", _stand_in(tmp_path))
    assert report is not None and report.network.startswith("network NOT isolated: not root")
    assert (report.path / "index.html").is_file()
