"""The reports as a person sees them: the handed-over bundle's HTML report and the Allure report, loaded
in headless Chromium (Debian's package), which records every request the pages make.

They must render, list every clause of the profile, resolve every internal link, and reach nothing
outside the machine (a report on data leaving the vehicle must not leak itself). The browser runs in a
network namespace with only `lo`, so its own background attempts cannot leave either; its net log is read
after each test and shows every request and connection it tried."""

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

from harness.report.loopback import interfaces, unavailable
from harness.report.matrix import matrix_rows
from harness.rig import netns
from tests import browser
from tests.harness_runner import RunResult
from tests.netlog import NetLog, local_url


def _require_chromium() -> None:
    missing = "" if browser.available() else "Chromium is not installed (scripts/bootstrap --dev installs it)"
    missing = missing or unavailable()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the browser tests cannot run: {missing}")
        pytest.skip(missing)


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[browser.Browser]:
    """A browser per test: its net log is complete only once it has closed, and stays in the test's
    directory (net-log.json) for anyone who wants to see what the browser tried."""
    _require_chromium()
    with browser.Browser(keep_net_log=tmp_path / "net-log.json") as b:
        yield b


def _assert_sealed(b: browser.Browser) -> None:
    """Chromium and every process it started see a namespace that is not the host's and holds only lo."""
    host = os.readlink("/proc/self/ns/net")
    pids = b.pids()
    assert len(pids) > 1, pids  # the renderers and the network service, not only the browser process
    for pid in pids:
        try:
            seen, names = os.readlink(f"/proc/{pid}/ns/net"), interfaces(pid)
        except OSError:
            continue  # a helper that exited meanwhile
        assert seen != host and names == ["lo"], (pid, seen, names)


def _net_log(b: browser.Browser) -> NetLog:
    b.close()
    assert b.net_log is not None and b.net_log.requests(), "Chromium wrote no net log"
    return b.net_log


def _assert_nothing_outside(b: browser.Browser) -> None:
    """From the net log: no page asked for anything off this machine, and no connection got out."""
    pages, through = _net_log(b).outside()
    assert pages == [], pages
    assert through == [], through


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
    # every test's timeline is drawn in the page from its evidence: lanes, egress marks, findings
    judged = [t for t in run["tests"] if t.get("checks")]
    assert judged and all("timeline" in t["evidence"] for t in judged), [t["name"] for t in judged]
    drawn = [t for t in run["tests"] if "timeline" in t["evidence"]]
    figures = page.evaluate("[...document.querySelectorAll('svg.timeline')].map(s => ({"
                            "height: s.getBoundingClientRect().height, width: s.getBoundingClientRect().width, "
                            "egress: s.querySelectorAll('rect.egress').length, "
                            "text: [...s.querySelectorAll('text')].map(t => t.textContent).join('|')}))")
    assert len(figures) == len(drawn)
    for figure in figures:
        assert figure["height"] > 200 and figure["width"] > 600, figure["height"]
        assert all(lane in figure["text"] for lane in ("speed (km/h)", "gear", "OTA state", "findings")), figure
    assert sum(f["egress"] for f in figures) > 0
    page.evaluate("document.querySelector('svg.timeline').scrollIntoView()")
    shot = page.screenshot(tmp_path / "report.png")  # the window, on the first timeline
    assert shot.stat().st_size > 10_000
    _assert_sealed(chromium)
    requests = chromium.requests()[before:]
    assert requests and all(local_url(url) for url in requests), [u for u in requests if not local_url(u)]
    _assert_nothing_outside(chromium)


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
    # Allure's pages load their data with fetch(), which browsers refuse from file://; serve it on the
    # loopback of the browser's namespace (a socket stays in the namespace it was opened in)
    with netns.entered(chromium.namespace):
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
        _assert_sealed(chromium)
        requests = chromium.requests()[before:]
    finally:
        server.shutdown()
        server.server_close()
    assert requests and all(local_url(url) for url in requests), [u[:100] for u in requests if not local_url(u)]
    _assert_nothing_outside(chromium)


def test_a_page_reaching_outside_is_caught_and_contained(chromium: browser.Browser, tmp_path: Path) -> None:
    """The checks above can fail: a page that asks for outside addresses shows in DevTools and in the
    net log as the page's own attempt, and the namespace stops every connection before it leaves."""
    page_file = tmp_path / "leaky.html"
    page_file.write_text('<html><body><img src="http://203.0.113.9/pixel.png">'
                         '<script>fetch("http://[2001:db8::9]/beacon").catch(() => {})</script></body></html>',
                         encoding="utf-8")
    page = chromium.open(page_file.as_uri())
    page.wait_for("performance.getEntriesByType('resource').length >= 2")
    _assert_sealed(chromium)
    asked = [url for url in chromium.requests() if not local_url(url)]
    assert {urlsplit(url).hostname for url in asked} == {"203.0.113.9", "2001:db8::9"}, asked
    log = _net_log(chromium)
    pages, through = log.outside()
    assert {urlsplit(r.url).hostname for r in pages} == {"203.0.113.9", "2001:db8::9"}, pages
    assert through == [], through
    assert NetLog.read(tmp_path / "net-log.json").requests() == log.requests()  # kept as the test's evidence
    tried = [c for c in log.connections() if c.host == "203.0.113.9"]
    assert tried and all(c.error for c in tried), tried  # attempted, and refused inside the namespace
