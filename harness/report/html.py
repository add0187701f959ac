"""Self-contained HTML report for a run record (written to ``reports/index.html``).

Inline CSS only, no script and no external reference: the report must not leak data itself. Each test's
timeline (an SVG the run drew from its evidence) is inlined when it passes the drawing's safety check.
"""

from __future__ import annotations

import hashlib
import html
import inspect
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from harness.report.grouping import FindingGroup, group_findings
from harness.report.matrix import NOT_TESTED, matrix_entries, matrix_json
from harness.report.summary import VERDICTS, count_verdicts, overall_verdict
from harness.report.timeline_svg import SVG_NS, safe_svg

__all__ = ["load_timelines", "render_html", "write_html"]

# The CSS must never contain url() or @import: either would make the browser fetch something.
_CSS = """
body{font-family:system-ui,sans-serif;margin:0 auto;max-width:72rem;padding:1rem 1.5rem;color:#1f2328}
h1{margin:.2rem 0}h2,h3{margin-top:2rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem}
code,pre,.mono{font-family:ui-monospace,monospace;font-size:.9em}
table{border-collapse:collapse;width:100%;margin:.6rem 0}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}.detail{white-space:pre-wrap;word-break:break-word}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem}dl.meta dt{font-weight:600}
.badge{display:inline-block;border-radius:.3rem;padding:.05rem .5rem;color:#fff;font-weight:700}
.overall{font-size:2.4rem;padding:.2rem 1.2rem;margin:.6rem 0}
.v-pass{background:#1a7f37}.v-fail{background:#cf222e}.v-inconclusive{background:#bf8700}
.v-error{background:#8250df}.v-unknown{background:#6e7781}
.doc{white-space:pre-wrap;background:#f6f8fa;padding:.6rem;border-radius:.3rem}
.warn{color:#cf222e;font-weight:700}.muted{color:#6e7781}.defect{color:#bf8700;font-weight:700}
.figure{overflow-x:auto;margin:.6rem 0}.figure svg{max-width:100%;height:auto}
details summary{cursor:pointer;color:#0969da}details table{font-size:.9em}.count{font-weight:700}
"""

# Defence in depth: even if something slipped past escaping, the browser may load nothing.
_HEAD_POLICY = (
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
    "style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">\n"
    '<meta name="referrer" content="no-referrer">'
)

_NO_CLAUSE = '<span class="muted">(no clause)</span>'
_NO_CLAUSES = '<p class="muted">none</p>'
_UNLINKED = '<span class="warn">(not a relative path; not linked)</span>'

TIMELINE_KEY = "timeline"  # the evidence entry that names a test's timeline drawing
_TIMELINE_LIMIT = 8_000_000  # bytes; a drawing larger than this is not inlined
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*:")
_NOT_ID = re.compile(r"[^A-Za-z0-9_-]+")
_DIGITS = re.compile(r"(\d+)")


def _e(value: Any) -> str:
    """Escape any value for element text or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


def _vclass(verdict: Any) -> str:
    # Whitelisted, so a record can never choose its own CSS class.
    v = str(verdict or "").lower()
    return f"v-{v}" if v in VERDICTS else "v-unknown"


def _badge(verdict: Any, extra: str = "") -> str:
    word = str(verdict or "?").upper()
    return f'<span class="badge {_vclass(verdict)}{extra}">{_e(word)}</span>'


def _anchor_ids(tests: Iterable[Mapping[str, Any]]) -> list[str]:
    """Derive one unique, safe ``id`` per test from its nodeid.

    The slug keeps the id readable; the hash keeps ``a/b`` and ``a-b`` apart after slugging.
    """
    ids: list[str] = []
    seen: set[str] = set()
    for test in tests:
        nodeid = str(test.get("nodeid") or test.get("name") or "")
        slug = _NOT_ID.sub("-", nodeid).strip("-")[:60]
        base = f"t-{slug}-{hashlib.sha1(nodeid.encode()).hexdigest()[:8]}"
        anchor, n = base, 2
        while anchor in seen:  # duplicate nodeids in a hand-edited record
            anchor, n = f"{base}-{n}", n + 1
        seen.add(anchor)
        ids.append(anchor)
    return ids


def _relative_href(path: Any) -> str | None:
    """Return an ``href`` for an evidence path, or None if it is not a plain relative path.

    Absolute paths, ``//host`` and any scheme (``https:``, ``javascript:``, ``C:``) are refused
    so a crafted record cannot turn the report into something that reaches out.
    """
    if not isinstance(path, str):
        return None
    text = path.strip().replace("\\", "/")
    if not text or text.startswith("/") or _SCHEME.match(text):
        return None
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        return None  # browsers strip these, which could reassemble a scheme
    return quote(text)  # '#', '?', '%' and ':' become literal path characters


def _name(test: Mapping[str, Any]) -> str:
    return str(test.get("name") or test.get("nodeid") or "(unnamed test)")


def _clauses(test: Mapping[str, Any]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for clause in test.get("clauses") or ():
        if isinstance(clause, Mapping):
            cid, title = str(clause.get("id") or ""), str(clause.get("title") or "")
        else:
            cid, title = str(clause), ""
        if cid or title:
            out.append((cid, title))
    return out


def _natural(text: str) -> list[Any]:
    # Orders §7.2 before §7.10, which plain string sorting does not.
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in _DIGITS.split(text)]


def _seconds(value: Any) -> str:
    return f"{value:.1f} s" if isinstance(value, int | float) else _e(value if value is not None else "-")


def _when(value: Any) -> str:
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"
        except (OverflowError, OSError, ValueError):
            pass
    return _e(value if value is not None else "")


def _header(run: Mapping[str, Any]) -> str:
    overall = overall_verdict(run)
    counts = count_verdicts(run)
    tally = " ".join(f"{_badge(v)} {counts[v]}" for v in VERDICTS)
    defect = run.get("vecu_defect")
    rows = [
        ("Profile", _e(run.get("profile", "-"))),
        ("Rig", f'<span class="mono">{_e(run.get("rig", "-"))}</span>'),
        (
            "vECU defect",
            f'<span class="defect">{_e(defect)}</span> (deliberately injected)' if defect else "none",
        ),
        ("Started", _e(run.get("started", "-"))),
        ("Duration", _seconds(run.get("duration_s"))),
        ("Tests", f"{len(run.get('tests') or ())} &mdash; {tally}"),
        ("Harness", _e(run.get("harness_version", "-"))),
    ]
    meta = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return (
        "<header>\n<h1>Conformance report</h1>\n"
        f'<div>{_badge(overall, " overall")}</div>\n<dl class="meta">{meta}</dl>\n</header>'
    )


def _matrix(run: Mapping[str, Any], anchors: list[str]) -> str:
    entries = matrix_entries(run)
    body = []
    for row, index in entries:
        if index is None:
            test_cell, verdict_cell, evidence_cell = f'<span class="muted">{NOT_TESTED}</span>', "", ""
        else:
            test_cell = f'<a href="#{anchors[index]}">{_e(row["name"])}</a>'
            verdict_cell = _badge(row["verdict"])
            href = _relative_href(row["evidence"])
            evidence_cell = f'<a href="{_e(href)}">capture</a>' if href else ""
        body.append(
            "<tr>"
            f"<td>{_e(row['clause']) if row['clause'] else _NO_CLAUSE}</td><td>{_e(row['clause_title'])}</td>"
            f"<td><code>{_e(row['rule'])}</code></td><td>{test_cell}</td><td>{verdict_cell}</td>"
            f"<td>{evidence_cell}</td></tr>\n"
        )
    matrix = matrix_json(run)
    return (
        '<section id="matrix">\n<h2>Compliance matrix</h2>\n'
        f'<p>{matrix["clauses_tested"]} of {matrix["clauses"]} clauses tested. '
        'Also as <a href="matrix.csv">CSV</a> and <a href="matrix.json">JSON</a>.</p>\n<table>\n'
        "<thead><tr><th>Clause</th><th>Title</th><th>Rule</th><th>Test</th><th>Verdict</th><th>Evidence</th>"
        "</tr></thead>\n"
        f"<tbody>\n{''.join(body)}</tbody>\n</table>\n</section>"
    )


def _findings(findings: Any) -> str:
    """One row per group of findings that differ only in source port or time; the members one click away."""
    groups = group_findings(findings or ())
    if not groups:
        return '<p class="muted">No findings recorded.</p>'
    heads = ("Check", "Verdict", "Clause", "Source &rarr; destination", "Region", "Protocol",
             "Categories", "Detail", "Count", "Time (UTC)")
    rows = []
    for g in groups:
        flow = _e(g.source)
        if g.dst:
            flow += f" &rarr; {_e(g.dst)}"
        cells = [
            _e(g.check), _badge(g.verdict), _e(g.clause), f'<span class="mono">{flow}</span>', _e(g.region),
            _e(g.protocol), _e(", ".join(g.categories)), f'<span class="detail">{_e(g.detail)}</span>{_others(g)}',
            f'<span class="count">{g.count}</span>', _span(g),
        ]
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>\n" + _members(g, len(heads)))
    head = "".join(f"<th>{h}</th>" for h in heads)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{''.join(rows)}</tbody>\n</table>"


def _others(group: FindingGroup) -> str:
    others = len({str(m.get("detail") or "") for m in group.members}) - 1
    return f' <span class="muted">(and {others} other detail{"s" if others > 1 else ""} below)</span>' \
        if others > 0 else ""


def _span(group: FindingGroup) -> str:
    first, last = group.first, group.last
    return _when(first) if first == last else f"{_when(first)} &ndash; {_when(last)}"


def _members(group: FindingGroup, columns: int) -> str:
    """For a group of more than one, a full-width row below it with every member behind a <details>."""
    if group.count == 1:
        return ""
    members = "".join(
        f'<tr><td class="mono">{_e(m.get("src", ""))}</td><td>{_when(m.get("time"))}</td>'
        f'<td class="detail">{_e(m.get("detail", ""))}</td></tr>' for m in group.members)
    return (f'<tr><td colspan="{columns}"><details><summary>the {group.count} findings</summary><table><thead><tr>'
            f"<th>Source</th><th>Time (UTC)</th><th>Detail</th></tr></thead><tbody>{members}</tbody></table>"
            "</details></td></tr>\n")


def _stats(stats: Any) -> str:
    if not isinstance(stats, Mapping) or not stats:
        return '<p class="muted">No capture statistics recorded.</p>'
    cells = []
    for key, value in stats.items():
        # Loss in the capture means a "pass" may simply have missed the offending traffic.
        lossy = key in ("dropped", "can_gaps") and isinstance(value, int | float) and value > 0
        shown = f'<span class="warn">{_e(value)} (capture incomplete)</span>' if lossy else _e(value)
        cells.append(f"<tr><th>{_e(key)}</th><td>{shown}</td></tr>")
    return "<table>\n" + "\n".join(cells) + "\n</table>"


def _evidence(evidence: Any) -> str:
    if not isinstance(evidence, Mapping) or not evidence:
        return '<p class="muted">No evidence files recorded.</p>'
    items = []
    for label, path in evidence.items():
        href = _relative_href(path)
        if href is not None:
            shown = f'<a href="{_e(href)}">{_e(path)}</a>'
        elif path:
            shown = f'<span class="mono">{_e(path)}</span> {_UNLINKED}'
        else:
            shown = '<span class="muted">not recorded</span>'
        items.append(f"<li>{_e(label)}: {shown}</li>")
    return "<ul>\n" + "\n".join(items) + "\n</ul>"


def _timeline(test: Mapping[str, Any], timelines: Mapping[str, str]) -> str:
    evidence = test.get("evidence")
    path = evidence.get(TIMELINE_KEY) if isinstance(evidence, Mapping) else None
    drawing = timelines.get(path) if isinstance(path, str) else None
    if drawing is None:
        return '<p class="muted">No timeline recorded.</p>'
    return f'<div class="figure">{drawing}</div>'


def _test_section(test: Mapping[str, Any], anchor: str, timelines: Mapping[str, str]) -> str:
    doc = inspect.cleandoc(str(test.get("doc") or "")) or "No description."
    rules = ", ".join(f"<code>{_e(r)}</code>" for r in test.get("rules") or ()) or "none"
    clauses = "".join(
        f"<li>{_e(cid)}{' &mdash; ' + _e(title) if title else ''}</li>" for cid, title in _clauses(test)
    )
    return (
        f'<section id="{anchor}">\n<h3>{_e(_name(test))} '
        f"{_badge(test.get('verdict'))}</h3>\n"
        f'<p class="mono">{_e(test.get("nodeid", ""))}</p>\n'
        f'<p class="doc">{_e(doc)}</p>\n'
        f'<dl class="meta"><dt>Family</dt><dd>{_e(test.get("family", "-"))}</dd>'
        f"<dt>Rules</dt><dd>{rules}</dd>"
        f"<dt>Duration</dt><dd>{_seconds(test.get('duration_s'))}</dd>"
        f"<dt>Reason</dt><dd>{_e(test.get('reason') or '-')}</dd></dl>\n"
        f"<h4>Clauses</h4>\n{f'<ul>{clauses}</ul>' if clauses else _NO_CLAUSES}\n"
        f"<h4>Timeline</h4>\n{_timeline(test, timelines)}\n"
        f"<h4>Findings</h4>\n{_findings(test.get('findings'))}\n"
        f"<h4>Capture statistics</h4>\n{_stats(test.get('capture_stats'))}\n"
        f"<h4>Evidence</h4>\n{_evidence(test.get('evidence'))}\n</section>"
    )


def render_html(run: Mapping[str, Any], timelines: Mapping[str, str] | None = None) -> str:
    """Render ``run`` as one self-contained HTML5 page.

    Every value from the record is escaped; evidence links are relative to ``reports/``. ``timelines``
    maps a test's timeline evidence path to its drawing, already checked by :func:`load_timelines`.
    """
    tests = [t for t in run.get("tests") or () if isinstance(t, Mapping)]
    anchors = _anchor_ids(tests)
    title = f"Conformance report - {run.get('profile', '-')} - {overall_verdict(run).upper()}"
    sections = "\n".join(_test_section(t, a, timelines or {}) for t, a in zip(tests, anchors, strict=True))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"{_HEAD_POLICY}\n"
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"{_header(run)}\n<main>\n{_matrix(run, anchors)}\n"
        f'<section id="tests">\n<h2>Tests</h2>\n{sections}\n</section>\n</main>\n</body>\n</html>\n'
    )


def load_timelines(run: Mapping[str, Any], reports: Path) -> dict[str, str]:
    """The timeline drawings the record names, read from under ``reports`` and fit to inline: a path that
    leaves the reports, a file too large or one with anything but plain shapes is left out."""
    found: dict[str, str] = {}
    root = reports.resolve()
    for test in run.get("tests") or ():
        evidence = test.get("evidence") if isinstance(test, Mapping) else None
        path = evidence.get(TIMELINE_KEY) if isinstance(evidence, Mapping) else None
        if not isinstance(path, str) or _relative_href(path) is None:
            continue
        file = (reports / path).resolve()
        if root not in file.parents or not file.is_file() or file.stat().st_size > _TIMELINE_LIMIT:
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        if safe_svg(text):
            found[path] = text.replace(f' xmlns="{SVG_NS}"', "", 1)  # inline SVG needs no namespace
    return found


def write_html(run: Mapping[str, Any], path: Path) -> None:
    """Write the rendered report to ``path`` (UTF-8), creating parent directories; the timelines the
    record names are read relative to the report's directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(run, load_timelines(run, path.parent)), encoding="utf-8")
