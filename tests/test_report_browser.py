"""The reports as a person sees them: the handed-over bundle's HTML report and the Allure report, loaded
in headless Chromium (Debian's package), which records every request the pages make.

They must render, list every clause of the profile, resolve every internal link, and reach nothing
outside the machine (a report on data leaving the vehicle must not leak itself)."""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from harness.report.matrix import matrix_rows
from tests import browser
from tests.harness_runner import RunResult


def _require_chromium() -> None:
    if not browser.available():
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: scripts/bootstrap --dev installs the Debian packages")
        pytest.skip("Chromium is not installed (scripts/bootstrap --dev installs it)")


@pytest.fixture(scope="module")
def chromium() -> Iterator[browser.Browser]:
    _require_chromium()
    with browser.Browser() as b:
        yield b


def _local(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("file", "data", "about") or (parts.scheme == "http" and parts.hostname == "127.0.0.1")


def test_html_report_of_the_bundle_renders_lists_every_clause_and_links_resolve(
        compliant_run: RunResult, chromium: browser.Browser, tmp_path: Path) -> None:
    bundle = tmp_path / "handed-over"
    shutil.copytree(compliant_run.reports / "bundle", bundle)
    before = len(chromium.requests())
    page = chromium.open((bundle / "index.html").as_uri())
    assert page.evaluate("document.title").startswith("Conformance report")
    # it renders: the matrix has laid-out rows, one per clause x test and per untested clause
    run = compliant_run.results
    rows = page.evaluate("[...document.querySelectorAll('#matrix tbody tr')]"
                         ".map(r => [...r.cells].map(c => c.innerText.trim()))")
    assert len(rows) == len(matrix_rows(run))
    assert page.evaluate("document.querySelector('#matrix table').getBoundingClientRect().height") > 100
    shown = {row[0] for row in rows}
    clauses = {c["id"] for c in run["profile_clauses"]}
    assert clauses and clauses <= shown, clauses - shown
    for test in run["tests"]:
        assert any(test["name"] == row[3] and test["verdict"].upper() == row[4] for row in rows), test["name"]
    # every link resolves: anchors to an element on the page, files to a file in the bundle
    links = page.evaluate("[...document.querySelectorAll('a[href]')].map(a => [a.getAttribute('href'), a.href])")
    assert links
    for raw, absolute in links:
        if raw.startswith("#"):
            assert page.evaluate(f"document.getElementById({raw[1:]!r}) !== null"), raw
        else:
            parts = urlsplit(absolute)
            assert parts.scheme == "file", absolute
            target = Path(unquote(parts.path))
            assert target.is_file() and bundle in target.parents, raw
    shot = page.screenshot(tmp_path / "report.png")
    assert shot.stat().st_size > 10_000
    requests = chromium.requests()[before:]
    assert requests and all(_local(url) for url in requests), [u for u in requests if not _local(u)]


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


def test_allure_report_renders_offline_and_requests_nothing_outside(
        compliant_run: RunResult, chromium: browser.Browser) -> None:
    report = compliant_run.reports / "allure-report"
    if not (report / "index.html").is_file():
        if os.environ.get("CI"):
            pytest.fail("no Allure report was rendered: scripts/bootstrap --dev installs the generator")
        pytest.skip("no Allure generator installed (scripts/bootstrap --dev installs one)")
    # Allure's pages load their data with fetch(), which browsers refuse from file://; serve it on loopback
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(report)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        before = len(chromium.requests())
        page = chromium.open(f"http://127.0.0.1:{server.server_address[1]}/")
        tests = len(compliant_run.results["tests"])
        text = page.wait_for("document.body.innerText.includes('test cases') && document.body.innerText")
        assert f"{tests}\ntest cases" in text
        page.evaluate("location.hash = 'behaviors'")  # epics (rule families) from the labels
        families = {rule.split(".")[0] for t in compliant_run.results["tests"] for rule in t["rules"]}
        checks = " && ".join(f"document.body.innerText.includes({f!r})" for f in sorted(families))
        page.wait_for(f"location.hash.includes('behaviors') && {checks}")
        requests = chromium.requests()[before:]
    finally:
        server.shutdown()
        server.server_close()
    assert requests and all(_local(url) for url in requests), [u[:100] for u in requests if not _local(u)]
