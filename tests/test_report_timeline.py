"""The per-test timeline and the grouped findings: drawn from a known synthetic evidence, the picture has
every lane, a mark per message at its time in its destination's lane, coloured by region and category,
and the findings where they happened; 18 findings that differ only by source port and time are one row."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness.findings import Finding, Verdict
from harness.net.evidence import CanRecord, Evidence
from harness.report.grouping import group_findings, source_host
from harness.report.html import load_timelines, render_html, write_html
from harness.report.timeline_data import build_timeline
from harness.report.timeline_svg import SVG_NS, category_colour, region_colours, safe_svg, timeline_svg
from tests import synthetic_evidence as synthetic
from tests.synthetic_evidence import Conversation, can_clock, mqtt_connect, mqtt_publish, netmap, switches, wall

CN_BROKER, EU_HOST = "203.0.113.10", "203.0.113.140"
LANES = ("speed (km/h)", "state of charge (%)", "gear", "parking brake", "OTA state", "drive inhibit",
         "switch cabin_camera", "switch location", "switch voice", "findings")


def _vehicle(t: float, speed: float, gear: str, brake: str, soc: float) -> list[CanRecord]:
    return [CanRecord(wall(t), "VehicleMotion", 0x120, {"vehicle.speed_kph": speed, "vehicle.gear": gear,
                                                         "vehicle.parking_brake": brake}),
            CanRecord(wall(t), "BatteryStatus", 0x2A0, {"battery.soc_pct": soc})]


def _ota(t: float, state: str, inhibit: int) -> list[CanRecord]:
    return [CanRecord(wall(t), "OtaStatus", 0x3B2, {"ota.status.state": state}),
            CanRecord(wall(t), "DriveInhibit", 0x3B3, {"ota.inhibit.request": inhibit,
                                                       "ota.inhibit.reason": "OtaInstallation" if inhibit else "None"})]


def _known() -> tuple[Evidence, list[Finding]]:
    """200 s of vehicle time: parked, then driving from 60 s to 140 s while installing; telemetry with the
    position to a domestic broker every 20 s, and three uploads with the position to an EU host."""
    can = can_clock(200.0) + switches([(30.0, "consent.location", "On")], 200.0)
    for t in range(0, 201, 10):
        driving = 60 <= t < 140
        can += _vehicle(t, 50.0 if driving else 0.0, "D" if driving else "P",
                        "Released" if driving else "Applied", 80.0 - t / 20)
        can += _ota(t, "Installing" if 80 <= t < 120 else "Idle", 1 if 80 <= t < 120 else 0)
    broker = Conversation(CN_BROKER, 1883, 40001, start=1.0).send(2.0, mqtt_connect())
    for t in range(20, 201, 20):
        broker.send(float(t), mqtt_publish({"lat": 31.2, "lon": 121.4, "speed": 50}))
    upload = synthetic.http_post({"lat": 31.2, "lon": 121.4})
    uploads = [Conversation(EU_HOST, 80, 41000 + i, start=t - 0.5).send(t, upload)
               for i, t in enumerate((90.0, 100.0, 110.0))]
    findings = [Finding("locality", Verdict.FAIL, "CAC-ADS-2021 Art. 3", "location sent to EU",
                        f"198.51.100.2:{41000 + i}", f"{EU_HOST}:80", "EU", "http", ("location",), wall(t))
                for i, t in enumerate((90.0, 100.0, 110.0))]
    findings.append(Finding("locality", Verdict.PASS, "CAC-ADS-2021 Art. 3", "1 of 2 flows stay inside CN"))
    return synthetic.evidence([broker, *uploads], can), findings


def _svg(drawing: str) -> ET.Element:
    return ET.fromstring(drawing)


def _all(root: ET.Element, tag: str) -> list[ET.Element]:
    return list(root.iter(f"{{{SVG_NS}}}{tag}"))


def _texts(root: ET.Element) -> list[str]:
    """What each text element shows (its tooltip left out)."""
    return [(t.text or "") + "".join(child.tail or "" for child in t) for t in _all(root, "text")]


def test_the_timeline_has_every_lane_and_a_mark_per_message_at_its_time() -> None:
    ev, findings = _known()
    drawing = timeline_svg(ev, findings, netmap())
    root = _svg(drawing)
    texts = _texts(root)
    for lane in LANES:
        assert any(text.startswith(lane) for text in texts), lane
    assert f"{CN_BROKER} · CN" in texts
    assert f"{EU_HOST} example.cn · EU" in texts  # the name the capture gives it (HTTP Host)
    assert texts[0].startswith("Timeline, vehicle time: 0 s = ")
    # the state lanes show what CAN carried, in order
    states = [r.find(f"{{{SVG_NS}}}title") for r in _all(root, "rect") if r.get("class") == "state"]
    tips = [t.text or "" for t in states if t is not None]
    assert [t.rsplit(" (", 1)[0] for t in tips if t.startswith("gear")] == ["gear: P", "gear: D", "gear: P"]
    assert [t.rsplit(" (", 1)[0] for t in tips if t.startswith("OTA state")] == \
        ["OTA state: Idle", "OTA state: Installing", "OTA state: Idle"]
    assert [t.rsplit(" (", 1)[0] for t in tips if t.startswith("drive inhibit")] == \
        ["drive inhibit: free", "drive inhibit: inhibited (OtaInstallation)", "drive inhibit: free"]
    assert [t.rsplit(" (", 1)[0] for t in tips if t.startswith("location")] == ["location: Off", "location: On"]
    # egress: one mark per message, in the lane of its destination, coloured by region and category
    marks = [r for r in _all(root, "rect") if r.get("class") == "egress"]
    eu = [m for m in marks if m.get("data-region") == "EU"]
    assert len(eu) == 3 and {m.get("data-category") for m in eu} == {"location"}
    assert {m.get("fill") for m in eu} == {category_colour("location")}
    cn = [m for m in marks if m.get("data-region") == "CN"]
    assert {m.get("data-category") for m in cn} >= {"location", "vehicle_state"}
    # the fail findings sit at the times of the uploads they are about, and a guide runs through the lanes
    fails = [p for p in _all(root, "polygon") if p.get("data-verdict") == "fail"]
    assert len(fails) == 3
    tips_x = sorted(float(p.get("points", "").split()[2].split(",")[0]) for p in fails)
    assert tips_x == sorted(float(m.get("x", "0")) + 1 for m in eu)
    assert any("no time" in text and "1 pass" in text for text in texts)
    assert safe_svg(drawing)


def test_the_axis_is_vehicle_time_and_without_a_clock_says_so() -> None:
    ev, findings = _known()
    timeline = build_timeline(ev, findings, netmap())
    assert timeline.vehicle_clock
    assert timeline.end - timeline.start == pytest.approx(200.0, abs=0.5)  # vehicle seconds, not wall seconds
    speeds = dict(timeline.series[0].points)
    assert max(speeds.values()) == 50.0
    no_clock = Evidence(ev.path, ev.flows, [r for r in ev.can if r.message != "GlobalTimeSync"], ev.info)
    assert not build_timeline(no_clock, findings, netmap()).vehicle_clock
    assert "capture time (no vehicle clock on CAN)" in timeline_svg(no_clock, findings, netmap())


def test_regions_get_colours_and_unknown_is_always_grey() -> None:
    colours = region_colours(["CN", "EU", "unknown"])
    assert len(set(colours.values())) == 3 and colours["unknown"] == "#57606a"
    ev, findings = _known()
    unmapped = timeline_svg(ev, findings, netmap(endpoint=[]))
    assert 'data-region="unknown"' in unmapped and 'data-region="EU"' not in unmapped


def test_the_drawing_loads_nothing_and_a_hostile_one_is_not_inlined(tmp_path: Path) -> None:
    ev, findings = _known()
    drawing = timeline_svg(ev, findings, netmap())
    assert "<script" not in drawing and "href" not in drawing and "url(" not in drawing
    assert drawing.replace(f'xmlns="{SVG_NS}"', "").count("://") == 0
    for hostile in ('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
                    '<svg><a href="https://exfil.example/"><text>x</text></a></svg>',
                    '<svg><rect fill="url(https://exfil.example/p)"/></svg>',
                    '<svg><foreignObject><img src="https://exfil.example/p"/></foreignObject></svg>',
                    '<svg><rect onload="alert(1)"/></svg>',
                    '<!DOCTYPE svg [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg><text>&x;</text></svg>',
                    "<svg><text>unclosed</svg>"):
        assert not safe_svg(hostile), hostile


def _run(timeline: str | None, findings: list[dict[str, Any]]) -> dict[str, Any]:
    evidence = {"capture": "evidence/t/capture.pcapng"}
    if timeline is not None:
        evidence["timeline"] = timeline
    return {"profile": "cn", "verdict": "fail", "tests": [
        {"nodeid": "suites/locality/test_x.py::test_x", "name": "test_x", "verdict": "fail", "reason": "r",
         "rules": ["locality.regulated-data"], "clauses": [], "findings": findings, "evidence": evidence}]}


def _eighteen() -> list[dict[str, Any]]:
    """18 HTTP requests that differ only by source port and time, and one to another destination."""
    same = [{"check": "locality", "verdict": "fail", "clause": "CAC-ADS-2021 Art. 3",
             "src": f"198.51.100.2:{40000 + i}", "dst": "203.0.113.140:80", "region": "EU", "protocol": "http",
             "categories": ["location", "vin"],
             "detail": "location sent to EU", "time": 1_800_000_000.0 + i} for i in range(18)]
    other = dict(same[0], dst="203.0.113.150:80", src="198.51.100.2:39999", time=1_800_000_100.0)
    return [*same, other]


def test_findings_that_differ_only_by_source_port_and_time_are_one_row() -> None:
    groups = group_findings(_eighteen())
    assert [g.count for g in groups] == [18, 1]
    first = groups[0]
    assert (first.check, first.verdict, first.dst, first.categories, first.source) == \
        ("locality", "fail", "203.0.113.140:80", ("location", "vin"), "198.51.100.2")
    assert (first.first, first.last) == (1_800_000_000.0, 1_800_000_017.0)
    assert source_host("[2001:db8::2]:80") == "2001:db8::2" and source_host("can:0x3B2") == "can:0x3B2"


def test_the_report_shows_one_row_with_count_and_span_and_the_flows_one_click_away() -> None:
    page = render_html(_run(None, _eighteen()))
    body = page[page.index("<h4>Findings</h4>"):page.index("<h4>Capture statistics</h4>")]
    rows = body.split("<tbody>", 1)[1]
    top_rows = [r for r in rows.split("</tr>") if "<td>locality</td>" in r]
    assert len(top_rows) == 2
    assert '<span class="count">18</span>' in top_rows[0] and '<span class="count">1</span>' in top_rows[1]
    assert "2027-01-15 08:00:00.000Z &ndash; 2027-01-15 08:00:17.000Z" in top_rows[0]
    details = body[body.index("<details>"):body.index("</details>")]
    assert "<summary>the 18 findings</summary>" in details
    assert all(f"198.51.100.2:{40000 + i}" in details for i in range(18))
    assert body.count("<details>") == 1  # a single finding needs no click


def test_the_report_inlines_the_timeline_the_record_names(tmp_path: Path) -> None:
    ev, findings = _known()
    folder = tmp_path / "evidence" / "t"
    folder.mkdir(parents=True)
    (folder / "timeline.svg").write_text(timeline_svg(ev, findings, netmap()), encoding="utf-8")
    (tmp_path / "outside.svg").write_text(timeline_svg(ev, findings, netmap()), encoding="utf-8")
    run = _run("evidence/t/timeline.svg", [f.to_dict() for f in findings])
    write_html(run, tmp_path / "index.html")
    page = (tmp_path / "index.html").read_text(encoding="utf-8")
    assert page.count('<svg class="timeline"') == 1 and "://" not in page
    assert f"{EU_HOST} example.cn · EU" in page
    for escaping in ("../outside.svg", "/etc/passwd", "evidence/t/missing.svg"):
        assert load_timelines(_run(escaping, []), tmp_path) == {}
    (folder / "timeline.svg").write_text('<svg><script>alert(1)</script></svg>', encoding="utf-8")
    assert load_timelines(run, tmp_path) == {}
    assert "No timeline recorded." in render_html(run, load_timelines(run, tmp_path))
