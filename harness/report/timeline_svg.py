"""One test's timeline as an SVG drawing: vehicle signals, egress per destination and findings on one
vehicle-time axis, so a reader sees at a glance what the vehicle was doing when it sent what.

Plain shapes and text with <title> tooltips: no script, no style sheet, no reference to anything outside."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from pathlib import Path

from harness.findings import Finding
from harness.net.evidence import Evidence
from harness.policy.netmap import CATEGORIES, Netmap
from harness.report.results import TestRecord
from harness.report.timeline_data import UNDECODABLE, Destination, FindingMark, StateLane, Timeline, build_timeline

SVG_NS = "http://www.w3.org/2000/svg"
TIMELINE_FILE = "timeline.svg"
WIDTH, LABEL_W, RIGHT = 1100, 250, 20
X0, X1 = LABEL_W, WIDTH - RIGHT
SERIES_H, STATE_H, SWITCH_H, DEST_H, FINDING_H, GAP = 48, 20, 14, 18, 30, 8
FONT = "font-family=\"system-ui,sans-serif\""
VERDICT_COLOURS = {"pass": "#1a7f37", "fail": "#cf222e", "inconclusive": "#bf8700", "error": "#8250df"}
REGION_COLOURS = ("#0969da", "#1a7f37", "#8250df", "#bc4c00", "#1b7c83", "#9a6700")
UNKNOWN_REGION = "#57606a"
CATEGORY_COLOURS = ("#d1242f", "#fb8500", "#a475f9", "#e85aad", "#6f42c1", "#bf3989", "#953800", "#0969da",
                    "#1f883d", "#3192aa", "#7d4e00")
NO_CATEGORY, UNDECODABLE_COLOUR = "#afb8c1", "#24292f"
STATE_FILLS = ("#ddf4ff", "#fff8c5", "#ffebe9", "#dafbe1", "#fbefff", "#eaeef2", "#ffe2cc", "#d8f3f6")


def timeline_svg(evidence: Evidence, findings: Iterable[Finding], netmap: Netmap | None = None,
                 standalone: bool = True) -> str:
    """The drawing of one test's evidence and findings; `standalone` adds the XML namespace a file needs."""
    return draw(build_timeline(evidence, findings, netmap), standalone)


def category_colour(category: str) -> str:
    if category == UNDECODABLE:
        return UNDECODABLE_COLOUR
    return CATEGORY_COLOURS[CATEGORIES.index(category) % len(CATEGORY_COLOURS)] if category in CATEGORIES \
        else NO_CATEGORY


def region_colours(regions: Sequence[str]) -> dict[str, str]:
    """A colour per region present; `unknown` (no mapping, so outside any jurisdiction) is always grey."""
    known = [r for r in regions if r != "unknown"]
    colours = {r: REGION_COLOURS[i % len(REGION_COLOURS)] for i, r in enumerate(known)}
    colours["unknown"] = UNKNOWN_REGION
    return colours


class _Canvas:
    def __init__(self, timeline: Timeline) -> None:
        self.t = timeline
        self.parts: list[str] = []
        self.y: float = 34

    def x(self, time: float) -> float:
        return X0 + (time - self.t.start) / (self.t.end - self.t.start) * (X1 - X0)

    def add(self, text: str) -> None:
        self.parts.append(text)

    def label(self, text: str, height: float, colour: str = "#1f2328", tip: str = "") -> None:
        title = f"<title>{_e(tip)}</title>" if tip else ""
        self.add(f'<text x="{LABEL_W - 8}" y="{self.y + height / 2 + 4:.1f}" font-size="11" text-anchor="end" '
                 f'fill="{colour}">{title}{_e(_short(text, 40))}</text>')

    def band(self, height: float, fill: str = "#f6f8fa", opacity: float = 1.0) -> None:
        self.add(f'<rect x="{X0}" y="{self.y}" width="{X1 - X0}" height="{height}" fill="{fill}" '
                 f'fill-opacity="{opacity}"/>')


def draw(timeline: Timeline, standalone: bool = True) -> str:
    c = _Canvas(timeline)
    top = c.y
    regions = region_colours(timeline.regions)
    for series in timeline.series:
        _series(c, series.label, series.unit, series.points)
    for lane in timeline.states:
        _states(c, lane, STATE_H)
    c.y += GAP
    for lane in timeline.switches:
        _states(c, lane, SWITCH_H, f"switch {lane.label}")
    c.y += GAP
    for destination in timeline.destinations:
        _destination(c, destination, regions.get(destination.region, UNKNOWN_REGION))
    if not timeline.destinations:
        c.label("no egress in the capture", DEST_H, "#6e7781")
        c.y += DEST_H
    c.y += GAP
    _findings(c, timeline.findings, top)
    _axis(c, top)
    _legend(c, timeline, regions)
    height = c.y + 8
    namespace = f' xmlns="{SVG_NS}"' if standalone else ""
    return (f'<svg{namespace} class="timeline" role="img" viewBox="0 0 {WIDTH} {height:.0f}" width="{WIDTH}" '
            f'height="{height:.0f}" {FONT} font-size="11">'
            f"<title>Timeline of the test: vehicle signals, egress per destination and findings</title>"
            f'<rect x="0" y="0" width="{WIDTH}" height="{height:.0f}" fill="#ffffff"/>'
            f'<text x="8" y="18" font-size="13" font-weight="600" fill="#1f2328">{_e(_origin(timeline))}</text>'
            + "".join(c.parts) + "</svg>")


def _origin(t: Timeline) -> str:
    axis = "vehicle time" if t.vehicle_clock else "capture time (no vehicle clock on CAN)"
    try:
        when = datetime.fromtimestamp(t.start, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except (OverflowError, OSError, ValueError):
        when = f"{t.start:.3f}"
    return f"Timeline, {axis}: 0 s = {when}, {t.end - t.start:.1f} s shown"


def _series(c: _Canvas, label: str, unit: str, points: Sequence[tuple[float, float]]) -> None:
    c.band(SERIES_H)
    if not points:
        c.label(f"{label}: not on CAN", SERIES_H, "#6e7781")
        c.y += SERIES_H + GAP
        return
    low, high = min(0.0, min(v for _, v in points)), max(v for _, v in points)
    high = max(high, 100.0) if unit == "%" else (high if high > low else low + 1.0)
    c.label(f"{label} ({unit}) 0–{high:.0f}", SERIES_H, tip=f"{label}: {len(points)} values on CAN")

    def y(value: float) -> float:
        return c.y + SERIES_H - 3 - (value - low) / (high - low) * (SERIES_H - 6)

    coords: list[str] = []
    previous: float | None = None
    for time, value in _thin(points, c):
        if previous is not None:
            coords.append(f"{c.x(time):.1f},{y(previous):.1f}")  # a step: the value holds until the next frame
        coords.append(f"{c.x(time):.1f},{y(value):.1f}")
        previous = value
    c.add(f'<polyline class="series" points="{" ".join(coords)}" fill="none" stroke="#0969da" stroke-width="1.5">'
          f"<title>{_e(label)} ({_e(unit)}), max {high:.1f}</title></polyline>")
    c.y += SERIES_H + GAP


def _thin(points: Sequence[tuple[float, float]], c: _Canvas) -> list[tuple[float, float]]:
    """At most the first, lowest, highest and last value per pixel column: the shape survives, the size not."""
    columns: dict[int, list[tuple[float, float]]] = {}
    for point in points:
        columns.setdefault(int(c.x(point[0])), []).append(point)
    kept: list[tuple[float, float]] = []
    for column in columns.values():
        chosen = {column[0], min(column, key=lambda p: p[1]), max(column, key=lambda p: p[1]), column[-1]}
        kept += sorted(chosen)
    return kept


def _states(c: _Canvas, lane: StateLane, height: float, label: str = "") -> None:
    c.band(height)
    c.label(label or lane.label, height)
    fills: dict[str, str] = {}
    for segment in lane.segments:
        fill = fills.setdefault(segment.value, STATE_FILLS[len(fills) % len(STATE_FILLS)])
        x0, x1 = c.x(segment.start), max(c.x(segment.end), c.x(segment.start) + 1.0)
        tip = f"{lane.label}: {segment.value} ({segment.start - c.t.start:.1f}–{segment.end - c.t.start:.1f} s)"
        c.add(f'<rect class="state" x="{x0:.1f}" y="{c.y + 1}" width="{x1 - x0:.1f}" height="{height - 2}" '
              f'fill="{fill}" stroke="#8c959f" stroke-width="0.5"><title>{_e(tip)}</title></rect>')
        if x1 - x0 > 6.5 * len(segment.value) + 4:
            c.add(f'<text x="{x0 + 3:.1f}" y="{c.y + height / 2 + 4:.1f}" font-size="{min(11, height - 3)}" '
                  f'fill="#1f2328">{_e(segment.value)}</text>')
    if not lane.segments:
        c.add(f'<text x="{X0 + 4}" y="{c.y + height / 2 + 4:.1f}" fill="#6e7781">not on CAN</text>')
    c.y += height + 2


def _destination(c: _Canvas, d: Destination, colour: str) -> None:
    c.band(DEST_H, colour, 0.10)
    name = f" {d.names[0]}" if d.names else ""
    c.add(f'<rect x="{LABEL_W - 6}" y="{c.y + 2}" width="4" height="{DEST_H - 4}" fill="{colour}"/>')
    c.label(f"{d.address}{name} · {d.region}", DEST_H, colour,
            tip=f"{d.address} ({', '.join(d.names) or 'no name in the capture'}), region {d.region}, "
                f"{len(d.marks)} message(s)")
    # one bar per pixel column, split into one slice per category the messages there carried
    columns: dict[int, dict[str, list[float]]] = {}
    for mark in d.marks:
        for category in mark.categories or ("",):
            columns.setdefault(int(c.x(mark.time)), {}).setdefault(category, []).append(mark.time)
    protocols = ", ".join(sorted({m.protocol for m in d.marks}))
    for column, by_category in sorted(columns.items()):
        slice_h = (DEST_H - 4) / len(by_category)
        for i, (category, times) in enumerate(sorted(by_category.items())):
            what = category or "no category"
            tip = (f"{d.address} ({d.region}, {protocols}): {len(times)} × {what} at {times[0] - c.t.start:.1f}"
                   + (f"–{times[-1] - c.t.start:.1f}" if len(times) > 1 else "") + " s")
            c.add(f'<rect class="egress" x="{column - 1}" y="{c.y + 2 + i * slice_h:.1f}" width="3" '
                  f'height="{slice_h:.1f}" fill="{category_colour(category)}" data-region="{_e(d.region)}" '
                  f'data-category="{_e(what)}"><title>{_e(tip)}</title></rect>')
    c.y += DEST_H + 2


def _findings(c: _Canvas, findings: Sequence[FindingMark], top: float) -> None:
    c.band(FINDING_H, "#ffffff")
    c.label("findings", FINDING_H)
    middle = c.y + FINDING_H / 2
    groups: dict[tuple[int, str, str, str], list[FindingMark]] = {}
    untimed: list[FindingMark] = []
    for f in findings:
        if f.time is None:
            untimed.append(f)
        else:
            groups.setdefault((int(c.x(f.time)), f.verdict, f.check, f.dst), []).append(f)
    severity = ("pass", "inconclusive", "fail", "error")
    for (column, verdict, check, dst), marks in sorted(groups.items(), key=lambda g: _rank(g[0][1], severity)):
        colour = VERDICT_COLOURS.get(verdict, "#6e7781")
        tip = f"{verdict.upper()} {check}" + (f" → {dst}" if dst else "") + f" ×{len(marks)}: {marks[0].detail}"
        if verdict != "pass":  # a guide through every lane to what the vehicle was doing at that moment
            c.add(f'<line x1="{column}" y1="{top}" x2="{column}" y2="{c.y}" stroke="{colour}" '
                  f'stroke-width="1" stroke-dasharray="3,3" stroke-opacity="0.6"/>')
        c.add(f'<polygon class="finding" data-verdict="{_e(verdict)}" points="{_marker(column, middle)}" '
              f'fill="{colour}"><title>{_e(_short(tip, 400))}</title></polygon>')
    c.y += FINDING_H
    if untimed:
        tally = ", ".join(f"{sum(1 for f in untimed if f.verdict == v)} {v}" for v in severity
                          if any(f.verdict == v for f in untimed))
        tips = "\n".join(f"{f.verdict.upper()} {f.check}: {f.detail}" for f in untimed)
        c.add(f'<text class="untimed" x="{X0}" y="{c.y + 12}" fill="#57606a">'
              f"<title>{_e(_short(tips, 2000))}</title>findings about the whole test (no time): {_e(tally)}</text>")
        c.y += 16


def _rank(verdict: str, order: Sequence[str]) -> int:
    return order.index(verdict) if verdict in order else len(order)


def _marker(x: float, y: float) -> str:
    return f"{x - 5:.1f},{y - 7:.1f} {x + 5:.1f},{y - 7:.1f} {x:.1f},{y + 5:.1f}"


def _axis(c: _Canvas, top: float) -> None:
    span = c.t.end - c.t.start
    step = _nice_step(span / 10)
    c.add(f'<line x1="{X0}" y1="{c.y + 2}" x2="{X1}" y2="{c.y + 2}" stroke="#57606a"/>')
    grid: list[str] = []
    tick = 0.0
    while tick <= span + 1e-9:
        x = c.x(c.t.start + tick)
        grid.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{c.y + 6}" stroke="#d0d7de" '
                    f'stroke-width="0.5"/>')
        c.add(f'<text x="{x:.1f}" y="{c.y + 17}" text-anchor="middle" fill="#57606a">{_num(tick)}</text>')
        tick += step
    c.parts[:0] = grid  # under the lanes, not over them
    c.add(f'<text x="{LABEL_W - 8}" y="{c.y + 17}" text-anchor="end" fill="#57606a">seconds</text>')
    c.y += 24


def _nice_step(rough: float) -> float:
    if rough <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(rough))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= rough)


def _num(value: float) -> str:
    return f"{value:.0f}" if abs(value - round(value)) < 1e-6 else f"{value:.1f}"


def _legend(c: _Canvas, t: Timeline, regions: dict[str, str]) -> None:
    x, y = 8.0, c.y + 10
    items = [(colour, f"region {r}", 0.35) for r, colour in regions.items() if r in t.regions]
    items += [(category_colour(cat), cat, 1.0) for cat in t.categories]
    if any(not m.categories for d in t.destinations for m in d.marks):
        items.append((NO_CATEGORY, "no category", 1.0))
    items += [(colour, f"finding: {verdict}", 1.0) for verdict, colour in VERDICT_COLOURS.items()]
    for colour, text, opacity in items:
        width = 18 + 6.5 * len(text)
        if x + width > WIDTH - 8:
            x, y = 8.0, y + 16
        c.add(f'<rect class="legend" x="{x:.1f}" y="{y - 9:.1f}" width="10" height="10" fill="{colour}" '
              f'fill-opacity="{opacity}"/><text x="{x + 14:.1f}" y="{y:.1f}" fill="#1f2328">{_e(text)}</text>')
        x += width
    c.y = y + 8


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _e(value: object) -> str:
    return escape(str(value), quote=True)


# what an inlined drawing may contain: the shapes above, nothing that can run or fetch
_TAGS = {"svg", "title", "rect", "text", "polyline", "polygon", "line", "g"}
_ATTRS = {"xmlns", "class", "role", "viewBox", "width", "height", "font-family", "font-size", "font-weight", "x",
          "y", "x1", "y1", "x2", "y2", "points", "fill", "fill-opacity", "stroke", "stroke-width",
          "stroke-dasharray", "stroke-opacity", "text-anchor", "data-region", "data-category", "data-verdict"}


def safe_svg(text: str) -> bool:
    """True when `text` is a drawing of the kind timeline_svg makes: known shapes and attributes only,
    no script, link, style or URL, so a report may inline it (a hand-edited file is refused)."""
    try:
        root = ET.fromstring(text)  # noqa: S314 - size-limited by the caller; no DTD is accepted below
    except ET.ParseError:
        return False
    if "<!" in text:
        return False
    for element in root.iter():
        tag = element.tag.removeprefix(f"{{{SVG_NS}}}")
        if tag not in _TAGS or any(k not in _ATTRS for k in element.attrib):
            return False
        if any("url(" in v.lower() or "javascript" in v.lower() for v in element.attrib.values()):
            return False
    return True


def record_timeline(record: TestRecord, evidence: Evidence, netmap: Netmap | None) -> str | None:
    """Draw the test's timeline beside its capture and name it in the record's evidence; the drawing, or
    None when the record names no capture. A file that cannot be written is left out of the record (the
    verdict does not depend on the picture)."""
    capture = record.evidence.get("capture")
    if not capture:
        return None
    drawing = timeline_svg(evidence, record.findings, netmap)
    relative = Path(capture).parent / TIMELINE_FILE
    try:
        (evidence.path.parent / TIMELINE_FILE).write_text(drawing, encoding="utf-8")
    except OSError:
        return drawing
    record.evidence["timeline"] = relative.as_posix()
    return drawing
