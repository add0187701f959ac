"""Tests for the HTML report and the terminal summary table.

Covers content, escaping of hostile records, absence of external references, and link integrity.
"""

from __future__ import annotations

import copy
import re
import unicodedata
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from harness.report.html import render_html, write_html
from harness.report.summary import summary_table

_VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "wbr", "source", "track", "embed"}
# Everything the renderer is meant to emit; anything else on the page came from the record.
_ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "main", "section", "div", "h1", "h2",
    "h3", "h4", "dl", "dt", "dd", "p", "span", "code", "ul", "li", "a", "table", "thead", "tbody",
    "tr", "th", "td", "details", "summary",
}
_ALLOWED_ATTRS = {"lang", "charset", "http-equiv", "content", "name", "class", "id", "href"}
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _test(nodeid: str, verdict: str, clauses: list[tuple[str, str]], **extra: Any) -> dict[str, Any]:
    name = nodeid.split("::")[-1]
    family = nodeid.split("/")[1]
    record: dict[str, Any] = {
        "nodeid": nodeid, "name": name, "doc": f"Checks {name}.", "family": family,
        "rules": [f"{family}.rule"], "clauses": [{"id": c, "title": t} for c, t in clauses],
        "verdict": verdict, "reason": f"{verdict} because of {name}", "findings": [],
        "evidence": {
            "capture": f"evidence/{family}/{name}/capture.pcapng",
            "can_log": f"evidence/{family}/{name}/can.log",
        },
        "capture_stats": {"packets": 120, "dropped": 0, "can_frames": 900, "can_gaps": 0},
        "duration_s": 3.2,
    }
    record.update(extra)
    return record


@pytest.fixture()
def run() -> dict[str, Any]:
    """A clean record: one test per verdict, mixed clause counts, no URL anywhere in the data."""
    finding = {
        "check": "ota-consent", "verdict": "fail", "clause": "GB 44496-2024 §7.1.2", "src": "can:0x3B2",
        "dst": "", "region": "", "protocol": "can", "categories": [], "detail": "install before accept",
        "time": 1764064800.123,
    }
    return {
        "harness_version": "0.1.0", "profile": "cn", "rig": "rigs/virtual.toml",
        "vecu_defect": "early_install",
        "started": "2026-11-25T10:00:00Z", "duration_s": 12.3, "verdict": "fail",
        "counts": {"pass": 1, "fail": 1, "inconclusive": 1, "error": 1},
        "tests": [
            _test("suites/ota/test_consent.py::test_no_installation_before_owner_accepts", "fail",
                  [("GB 44496-2024 §7.1.2", "Owner consent before the update")], findings=[finding]),
            _test("suites/locality/test_egress.py::test_no_personal_data_abroad", "pass",
                  [("GB 44495-2024 §8.2", "Data locality"), ("GB/T 41871-2022 §5.1", "Minimization")]),
            _test("suites/locality/test_dns.py::test_resolver_in_region", "inconclusive",
                  [("GB 44495-2024 §8.3", "Resolver location")]),
            _test("suites/ota/test_rollback.py::test_rollback_on_power_loss", "error", []),
        ],
    }


@pytest.fixture()
def hostile_run(run: dict[str, Any]) -> dict[str, Any]:
    """The clean record with attacker-controlled strings in every free-text field."""
    bad = copy.deepcopy(run)
    t = bad["tests"][0]
    t["doc"] = "<script>alert('doc')</script>"
    t["name"] = 'test_<img src="https://exfil.example/p.png" onerror=alert(1)>'
    t["reason"] = '"><script>alert(2)</script>'
    t["clauses"][0]["title"] = "<style>@import url(https://fonts.example/x.css);</style>"
    t["findings"][0]["detail"] = "</td></table><a href=\"https://exfil.example/\">x</a>"
    t["findings"][0]["dst"] = "//cdn.example/track"
    t["evidence"] = {
        "capture": "https://exfil.example/capture.pcapng", "can_log": "//cdn.example/can.log",
        "script": "javascript:alert(3)", "abs": "/etc/passwd", "win": "C:\\evidence\\x.log",
        "tabbed": "java\tscript:alert(4)", "ok": "evidence/ota/a b#c.log",
    }
    # Distinct nodeids that slug to the same text must still get distinct anchors.
    bad["tests"].append(_test("suites/ota/a-b.py::t", "pass", []))
    bad["tests"].append(_test("suites/ota/a/b.py::t", "pass", []))
    bad["counts"]["pass"] += 2
    return bad


class _Page(HTMLParser):
    """Collects tags, ids, hrefs, text, CSS and compliance-matrix rows; notes unbalanced tags."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.ids: list[str] = []
        self.text: list[str] = []
        self.css: list[str] = []
        self.matrix_rows: list[list[str]] = []
        self.errors: list[str] = []
        self._open: list[tuple[str, str | None]] = []
        self.feed(page)
        self.close()
        self.errors += [f"unclosed <{tag}>" for tag, _ in self._open]

    def _in(self, tag: str) -> bool:
        return any(t == tag for t, _ in self._open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        self.tags.append((tag, attr))
        if attr.get("id"):
            self.ids.append(str(attr["id"]))
        in_matrix = any(i == "matrix" for _, i in self._open)
        if in_matrix and tag == "tr" and self._in("tbody"):
            self.matrix_rows.append([])
        if in_matrix and tag == "td" and self.matrix_rows:
            self.matrix_rows[-1].append("")
        if tag not in _VOID:
            self._open.append((tag, attr.get("id")))

    def handle_endtag(self, tag: str) -> None:
        if not self._open or self._open[-1][0] != tag:
            self.errors.append(f"unexpected </{tag}>")
            return
        self._open.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in("style"):
            self.css.append(data)
        if self._in("td") and any(i == "matrix" for _, i in self._open) and self.matrix_rows:
            self.matrix_rows[-1][-1] += data

    @property
    def hrefs(self) -> list[str]:
        return [str(a["href"]) for _, a in self.tags if "href" in a]


def _display_width(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in line)


def _summary_rows(table: str) -> list[list[str]]:
    """The table's rows, each the lines it wraps onto: a row starts where the verdict column is filled."""
    lines = table.splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"-"}]
    assert len(rules) == 2, table
    verdict_at = lines[0].index("VERDICT")
    rows: list[list[str]] = []
    for line in lines[rules[0] + 1 : rules[1]]:
        if line[verdict_at:verdict_at + 1].strip():
            rows.append([line])
        else:
            assert rows, line
            rows[-1].append(line)
    return rows


def _summary_column(table: str, row: list[str], heading: str) -> str:
    """One column of a (wrapped) row, its pieces joined as the reader joins them."""
    header = table.splitlines()[0]
    start = header.index(heading)
    later = [header.index(h) for h in ("RULE", "TEST", "VERDICT", "REASON") if header.index(h) > start]
    end = min(later) if later else None
    pieces = [line[start:end].strip() for line in row]
    return " ".join(p for p in pieces if p)


def test_page_contains_every_clause_id_and_test_name(run: dict[str, Any]) -> None:
    page = _Page(render_html(run))
    text = "".join(page.text)
    for test in run["tests"]:
        assert test["name"] in text
        for clause in test["clauses"]:
            assert clause["id"] in text
            assert clause["title"] in text


def test_compliance_matrix_has_one_row_per_clause_per_test(run: dict[str, Any]) -> None:
    matrix = _Page(render_html(run)).matrix_rows
    rows = {tuple(r) for r in matrix}
    assert len(matrix) == len(rows)
    expected = {
        (c["id"], c["title"], t["rules"][0], t["name"], t["verdict"].upper(), "capture")
        for t in run["tests"] for c in t["clauses"]
    } | {("(no clause)", "", t["rules"][0], t["name"], t["verdict"].upper(), "capture")
         for t in run["tests"] if not t["clauses"]}
    assert rows == expected


def test_compliance_matrix_lists_untested_clauses_of_the_profile(run: dict[str, Any]) -> None:
    tested = run["tests"][0]["clauses"][0]
    run["profile_clauses"] = [
        {"rule": run["tests"][0]["rules"][0], "id": tested["id"], "title": tested["title"], "severity": "critical"},
        {"rule": "ota.rollback", "id": "UN R156 7.2.2.4", "title": "Recovery after a failed update",
         "severity": "blocker"},
    ]
    rows = _Page(render_html(run)).matrix_rows
    assert ["UN R156 7.2.2.4", "Recovery after a failed update", "ota.rollback", "not tested", "", ""] in rows
    assert rows.index(["UN R156 7.2.2.4", "Recovery after a failed update", "ota.rollback", "not tested", "", ""]) == 1


def test_header_and_sections_carry_verdicts_and_metadata(run: dict[str, Any]) -> None:
    page = _Page(render_html(run))
    overall = [a for t, a in page.tags if "overall" in str(a.get("class", "")).split()]
    assert len(overall) == 1 and "v-fail" in str(overall[0]["class"]).split()
    text = "".join(page.text)
    for needle in ("cn", "rigs/virtual.toml", "early_install", "2026-11-25T10:00:00Z", "12.3 s", "0.1.0"):
        assert needle in text
    badge_classes = {str(a.get("class")) for _, a in page.tags if "badge" in str(a.get("class", ""))}
    assert {"badge v-pass", "badge v-fail", "badge v-inconclusive", "badge v-error"} <= badge_classes
    css = "".join(page.css)
    for cls, colour in (("pass", "#1a7f37"), ("fail", "#cf222e"), ("inconclusive", "#bf8700"),
                        ("error", "#8250df")):
        assert f".v-{cls}{{background:{colour}}}" in css


def test_page_is_well_formed(run: dict[str, Any], hostile_run: dict[str, Any]) -> None:
    for record in (run, hostile_run):
        page_text = render_html(record)
        assert page_text.startswith("<!DOCTYPE html>")
        page = _Page(page_text)
        assert page.errors == []
        assert [t for t, _ in page.tags].count("body") == 1
        assert len(page.ids) == len(set(page.ids)), "duplicate id"


def test_hostile_docstring_and_fields_are_escaped(hostile_run: dict[str, Any]) -> None:
    page_text = render_html(hostile_run)
    assert "<script" not in page_text.lower()
    assert "&lt;script&gt;alert(&#x27;doc&#x27;)&lt;/script&gt;" in page_text
    page = _Page(page_text)
    assert {t for t, _ in page.tags} <= _ALLOWED_TAGS
    assert {k for _, a in page.tags for k in a} <= _ALLOWED_ATTRS
    text = "".join(page.text)
    test = hostile_run["tests"][0]
    # The hostile strings survive as visible text, so the reader still sees what happened.
    for raw in (test["doc"], test["name"], test["reason"], test["findings"][0]["detail"]):
        assert raw in text


@pytest.mark.parametrize("needle", ["http://", "https://", "//", "@import", "url("])
def test_clean_page_has_no_external_reference(run: dict[str, Any], needle: str) -> None:
    assert needle not in render_html(run).lower()


def test_hostile_page_never_references_outside(hostile_run: dict[str, Any]) -> None:
    page = _Page(render_html(hostile_run))
    css = "".join(page.css).lower()
    assert "@import" not in css and "url(" not in css
    for tag, attrs in page.tags:
        assert "src" not in attrs and "action" not in attrs and "style" not in attrs, tag
        for value in (v for k, v in attrs.items() if k != "content" and v):
            low = value.lower()
            assert "://" not in low and not low.startswith("//") and "javascript" not in low, value
    # Unsafe evidence paths are shown as text but not linked; the safe one is linked, quoted.
    text = "".join(page.text)
    for label in ("capture", "can_log", "script", "abs", "win"):
        assert hostile_run["tests"][0]["evidence"][label] in text
    assert "evidence/ota/a%20b%23c.log" in page.hrefs


def test_every_href_is_local_anchor_or_relative(run: dict[str, Any], hostile_run: dict[str, Any]) -> None:
    for record in (run, hostile_run):
        page = _Page(render_html(record))
        ids = set(page.ids)
        assert page.hrefs
        for href in page.hrefs:
            if href.startswith("#"):
                assert href[1:] in ids, href
            else:
                parts = urlsplit(href)
                assert not parts.scheme and not parts.netloc and not href.startswith("/"), href
                assert ":" not in href.split("/")[0], href  # no scheme-like first segment
    hrefs = _Page(render_html(run)).hrefs
    for test in run["tests"]:
        for path in test["evidence"].values():
            assert path in hrefs


def test_every_test_has_a_reachable_section(hostile_run: dict[str, Any]) -> None:
    page = _Page(render_html(hostile_run))
    sections = [a for t, a in page.tags if t == "section"]
    section_ids = [str(a["id"]) for a in sections if str(a.get("id", "")).startswith("t-")]
    assert len(section_ids) == len(hostile_run["tests"])  # a-b.py and a/b.py do not collide
    anchors = {h[1:] for h in page.hrefs if h.startswith("#")}
    assert set(section_ids) == anchors
    assert all(re.fullmatch(r"[A-Za-z0-9_-]+", i) for i in section_ids)


def test_write_html_creates_report(tmp_path: Path, run: dict[str, Any]) -> None:
    target = tmp_path / "reports" / "index.html"
    write_html(run, target)
    assert target.read_text(encoding="utf-8") == render_html(run)


def test_summary_has_one_row_per_test(run: dict[str, Any]) -> None:
    table = summary_table(run)
    rows = _summary_rows(table)
    assert len(rows) == len(run["tests"])
    for test, row in zip(run["tests"], rows, strict=True):
        assert _summary_column(table, row, "TEST").replace(" ", "") == test["name"]
        assert f"  {test['verdict'].upper()}  " in row[0]
        assert _summary_column(table, row, "REASON") == test["reason"]  # whole, however long
    assert rows[1][0].startswith("locality.rule")  # the terminal names the rule; the HTML lists its clauses


def test_summary_totals_line(run: dict[str, Any]) -> None:
    assert summary_table(run).splitlines()[-1] == "4 tests: 1 pass, 1 fail, 1 inconclusive, 1 error -> FAIL"
    single = {"tests": [run["tests"][1]]}  # no counts or verdict recorded: derived from the tests
    assert summary_table(single).splitlines()[-1] == "1 test: 1 pass, 0 fail, 0 inconclusive, 0 error -> PASS"


def test_summary_colour_only_when_asked(run: dict[str, Any]) -> None:
    plain = summary_table(run)
    coloured = summary_table(run, color=True)
    assert "\x1b" not in plain
    assert "\x1b[1;31mFAIL\x1b[0m" in coloured and "\x1b[32mPASS\x1b[0m" in coloured
    assert _ANSI.sub("", coloured) == plain  # colour never shifts the columns


def test_summary_fits_terminal_and_drops_control_characters(run: dict[str, Any]) -> None:
    run["tests"][0]["reason"] = "line one\nline two \x1b]0;pwned\x07 " + "数据出境" * 60
    table = summary_table(run)
    assert "\x1b" not in table and "\x07" not in table
    rows = _summary_rows(table)
    assert len(rows) == len(run["tests"])  # the newline did not split the row
    assert len(rows[0]) > 3  # the long reason wrapped, nothing cut
    assert "".join(line.rsplit("  ", 1)[-1] for line in rows[0]).count("数据出境") == 60
    assert all(_display_width(line) <= 120 for line in table.splitlines())


def test_summary_wraps_the_whole_reason_under_its_column(run: dict[str, Any]) -> None:
    reason = ("20 positions to 203.0.113.50 give only 5 neighbouring distinct values on one axis (at least 6 are "
              "needed to tell a grid from chance); rerun with harness run --seed 270752895")
    run["tests"][0]["reason"] = reason
    run["tests"][0]["rules"] = ["ota.consent", "ota.safe-state", "ota.rollback", "ota.result-notice"]
    table = summary_table(run)
    row = _summary_rows(table)[0]
    assert len(row) > 1
    assert _summary_column(table, row, "REASON") == reason
    assert _summary_column(table, row, "RULE") == "ota.consent, ota.safe-state, ota.rollback, ota.result-notice"
    reason_at = table.splitlines()[0].index("REASON")
    assert all(not line[:reason_at].strip() or line is row[0] or "ota." in line for line in row)
    assert all(_display_width(line) <= 120 for line in table.splitlines())
