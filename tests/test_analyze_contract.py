"""`harness analyze` as labs script it: options, the JSON shape, exit statuses, address formats, and
the locality semantics of the offline analysis contract, on captures these tests make."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.dhcp import BOOTP, DHCP

from harness.cli import main
from harness.net import gbt32960
from harness.net.gbt32960_units import Location, VehicleData
from tests.capture_builder import (
    CN_PLATFORM,
    CN_PLATFORM6,
    EU_EXPORT,
    EU_HOST,
    EU_HOST6,
    NETMAP,
    UNMAPPED,
    VEHICLE,
    VEHICLE6,
    VIN,
    CaptureBuilder,
    client_hello,
    mqtt_connect,
    mqtt_publish,
    tls_record,
)
from tests.harness_runner import ROOT

FINDING_KEYS = {"check", "verdict", "clause", "src", "dst", "region", "protocol", "categories", "detail"}
SEVERITY = {"pass": 0, "inconclusive": 1, "fail": 2, "error": 3}
EXIT = {"pass": 0, "fail": 1, "inconclusive": 3, "error": 4}
WHEN = datetime(2026, 3, 1, 8, 0, 0)


@pytest.fixture
def netmap(tmp_path: Path) -> Path:
    path = tmp_path / "netmap.toml"
    path.write_text(NETMAP, encoding="utf-8")
    return path


def analyze(capture: Path, netmap: Path, capsys: pytest.CaptureFixture[str], *extra: str,
            profile: str = "cn") -> tuple[int, dict[str, Any]]:
    status = main(["analyze", str(capture), "--profile", profile, "--netmap", str(netmap), "--json", *extra])
    out = capsys.readouterr().out
    report = json.loads(out)
    _assert_contract_shape(report, status)
    return status, report


def _assert_contract_shape(report: dict[str, Any], status: int) -> None:
    assert set(report) == {"verdict", "findings", "stats"}
    assert set(report["stats"]) == {"packets", "flows"}
    assert all(set(f) == FINDING_KEYS for f in report["findings"])
    assert all(isinstance(f["categories"], list) for f in report["findings"])
    worst = max((f["verdict"] for f in report["findings"]), key=SEVERITY.__getitem__)
    assert report["verdict"] == worst
    assert status == EXIT[report["verdict"]]


def located(report: dict[str, Any], dst: str, check: str = "locality") -> dict[str, Any]:
    matches = [f for f in report["findings"] if f["dst"] == dst and f["check"] == check]
    assert len(matches) == 1, report["findings"]
    return matches[0]


def gbt_session(capture: CaptureBuilder, client: tuple[str, int], server: tuple[str, int],
                frames: list[bytes] | None = None) -> None:
    conversation = capture.tcp(client, server)
    for frame in frames or [gbt32960.build_login(VIN, WHEN, 1, "89860012345678901234"),
                            gbt32960.build_realtime(VIN, WHEN, vehicle=VehicleData(speed_kmh=50),
                                                    location=Location(31.2304, 121.4737))]:
        conversation.send(True, frame)
        conversation.send(False, gbt32960.build_response(frame))
    conversation.close()


def http_post(capture: CaptureBuilder, server: tuple[str, int], body: bytes, headers: str = "",
              host: str = "telemetry") -> None:
    conversation = capture.tcp((VEHICLE, 41000), server)
    head = f"POST /v1/telemetry HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n{headers}"
    if "Transfer-Encoding" not in headers:
        head += f"Content-Length: {len(body)}\r\n"
    conversation.send(True, head.encode() + b"\r\n" + body)
    conversation.send(False, b"HTTP/1.1 204 No Content\r\n\r\n")
    conversation.close()


LOCATION = json.dumps({"vin": VIN, "lat": 48.8566, "lon": 2.3522, "speed": 50}).encode()


# -- exit statuses and the JSON shape ------------------------------------------------------------------
def test_domestic_reports_pass_with_status_0(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    gbt_session(capture, (VEHICLE, 40001), (CN_PLATFORM, 32960))
    status, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    assert (status, report["verdict"]) == (0, "pass")
    assert report["stats"]["flows"] == 1 and report["stats"]["packets"] == len(capture.packets)
    minimization = located(report, f"{CN_PLATFORM}:32960", "minimization")
    assert minimization["src"] == f"{VEHICLE}:40001" and minimization["protocol"] == "gbt32960"
    assert set(minimization["categories"]) == {"vin", "vehicle_state", "location"}


def test_location_to_foreign_address_fails_with_status_1(tmp_path: Path, netmap: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    http_post(capture, (EU_HOST, 443), LOCATION)
    status, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    assert status == 1
    finding = located(report, f"{EU_HOST}:443")
    assert finding["verdict"] == "fail" and finding["region"] == "EU" and finding["protocol"] == "http"
    assert {"location", "vin"} <= set(finding["categories"])
    assert finding["clause"] and finding["src"] == f"{VEHICLE}:41000"


def test_usage_errors_exit_2_with_one_line(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder().write(tmp_path / "c.pcapng")
    assert main(["analyze", str(capture), "--profile", "mars", "--netmap", str(netmap)]) == 2
    assert main(["analyze", str(capture), "--profile", "cn", "--netmap", str(tmp_path / "none.toml")]) == 2
    assert main(["analyze", str(tmp_path / "absent.pcapng"), "--profile", "cn", "--netmap", str(netmap)]) == 2
    (tmp_path / "keys.log").write_text("this is not a key log\n", encoding="utf-8")
    assert main(["analyze", str(capture), "--profile", "cn", "--netmap", str(netmap),
                 "--keylog", str(tmp_path / "keys.log")]) == 2
    err = capsys.readouterr().err
    assert "mars" in err and "none.toml" in err and "absent.pcapng" in err and "key log" in err
    assert "Traceback" not in err
    with pytest.raises(SystemExit) as missing:
        main(["analyze", str(capture), "--netmap", str(netmap)])  # --profile is required
    assert missing.value.code == 2


def test_undecryptable_tls_to_foreign_address_is_inconclusive_status_3(
        tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    conversation = capture.tcp((VEHICLE, 42000), (EU_HOST, 443))
    conversation.send(True, client_hello("analytics.example.eu"))
    conversation.send(False, tls_record(22, b"\x02" + bytes(80)) + tls_record(20, b"\x01") + tls_record(23, bytes(900)))
    conversation.send(True, tls_record(20, b"\x01") + tls_record(22, bytes(40)) + tls_record(23, bytes(300)))
    status, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    assert status == 3
    finding = located(report, f"{EU_HOST}:443")
    assert finding["verdict"] == "inconclusive" and finding["protocol"] == "tls"
    assert "analytics.example.eu" in finding["detail"] and "no key log" in finding["detail"]


def test_text_file_is_an_error_status_4_without_traceback(tmp_path: Path, netmap: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a capture at all, just a few words of text\n" * 3, encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "harness.cli", "analyze", str(text), "--profile", "cn",
                           "--netmap", str(netmap), "--json"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 4
    assert "Traceback" not in done.stderr and "not a pcap or pcapng" in done.stderr
    report = json.loads(done.stdout)
    _assert_contract_shape(report, done.returncode)
    assert report["findings"][0]["check"] == "capture" and report["findings"][0]["verdict"] == "error"


def test_table_without_json(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    http_post(capture, (EU_HOST, 443), LOCATION)
    status = main(["analyze", str(capture.write(tmp_path / "c.pcapng")), "--profile", "cn", "--netmap", str(netmap)])
    out = capsys.readouterr().out.splitlines()
    assert status == 1
    assert out[1].split()[:3] == ["VERDICT", "CHECK", "SOURCE"]
    assert out[2].startswith("FAIL") and f"{VEHICLE}:41000 -> {EU_HOST}:443" in out[2]
    assert out[-1] == "overall verdict: FAIL"


# -- addresses, names and regions ------------------------------------------------------------------------
def test_ipv6_addresses_are_bracketed(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    gbt_session(capture, (VEHICLE6, 40002), (EU_HOST6, 32960))
    gbt_session(capture, (VEHICLE6, 40003), (CN_PLATFORM6, 32960))
    status, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    finding = located(report, f"[{EU_HOST6}]:32960")
    assert status == 1 and finding["src"] == f"[{VEHICLE6}]:40002" and finding["region"] == "EU"
    assert {"location", "vin"} <= set(finding["categories"])


def test_address_mapping_wins_over_name(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The Host names a domestic domain, but the address is mapped to the EU: the data went to the EU."""
    capture = CaptureBuilder()
    capture.dns_answer("tsp.example.cn", EU_HOST)
    http_post(capture, (EU_HOST, 443), LOCATION, host="tsp.example.cn")
    _, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    assert located(report, f"{EU_HOST}:443")["region"] == "EU"
    assert report["verdict"] == "fail"


@pytest.mark.parametrize(("how", "region", "verdict"), [("dns", "CN", "pass"), ("dns-cname", "CN", "pass"),
                                                         ("host", "EU", "fail"), ("none", "unknown", "fail")])
def test_names_decide_where_no_address_mapping_does(how: str, region: str, verdict: str, tmp_path: Path,
                                                     netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    if how == "dns":
        capture.dns_answer("tsp.example.cn", UNMAPPED)
    elif how == "dns-cname":
        capture.dns_answer("tsp.example.cn", UNMAPPED, via="edge.cdn.example.net")
    http_post(capture, (UNMAPPED, 443), LOCATION, host="analytics.example.eu" if how == "host" else UNMAPPED)
    _, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    if region == "CN":
        assert not [f for f in report["findings"] if f["check"] == "locality" and f["dst"]]
        assert located(report, f"{UNMAPPED}:443", "minimization")["region"] == "CN"
    else:
        assert located(report, f"{UNMAPPED}:443")["region"] == region
    assert report["verdict"] == verdict


def test_sni_names_the_destination(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    conversation = capture.tcp((VEHICLE, 42001), (UNMAPPED, 443))
    conversation.send(True, client_hello("api.analytics.example.eu"))
    conversation.send(False, tls_record(22, b"\x02" + bytes(80)))
    _, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    finding = located(report, f"{UNMAPPED}:443")
    assert finding["region"] == "EU" and finding["verdict"] == "pass"  # a handshake alone carries no category


@pytest.mark.parametrize(("body", "verdict"), [({"vin": VIN, "speed": 50}, "pass"),
                                                ({"vin": VIN, "speed": 50, "lat": 31.2, "lon": 121.4}, "fail")])
def test_approved_export_must_cover_every_regulated_category(body: dict[str, Any], verdict: str, tmp_path: Path,
                                                              netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    http_post(capture, (EU_EXPORT, 443), json.dumps(body).encode())
    _, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    finding = located(report, f"{EU_EXPORT}:443")
    assert finding["verdict"] == verdict
    if verdict == "fail":
        assert "location" in finding["detail"] and "vin" not in finding["detail"].split(" sent")[0]


def test_flow_without_category_passes(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    capture.dns_answer("analytics.example.eu", EU_HOST, resolver=EU_HOST)  # the resolver itself is abroad
    capture.udp((VEHICLE, 123), (EU_HOST, 123), bytes([0x23]) + bytes(47))  # an NTP client request
    request = BOOTP(chaddr=b"\x02" * 6) / DHCP(options=[("message-type", "request"), "end"])
    capture.udp((VEHICLE, 68), (EU_HOST, 67), request)  # renewing its lease with a server abroad
    _, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    assert {f["protocol"] for f in report["findings"] if f["dst"]} == {"dns", "udp"}
    assert all(f["verdict"] == "pass" for f in report["findings"] if f["dst"])
    # ... but a capture of nothing but the network's own traffic shows nothing the vehicle sent
    assert report["verdict"] == "inconclusive"
    assert any("nothing the vehicle would send was observed" in f["detail"] for f in report["findings"])
    http_post(capture, (CN_PLATFORM, 8080), json.dumps({"speed": 50}).encode())
    _, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    assert report["verdict"] == "pass"


# -- decoding on the way: reassembly, encodings ------------------------------------------------------------
def test_reordered_and_retransmitted_segments(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    conversation = capture.tcp((VEHICLE, 43000), (EU_HOST, 1883))
    conversation.send(True, mqtt_connect())
    segments = conversation.segments(True, mqtt_publish(f"vehicles/{VIN}/pos", LOCATION, qos=1), size=20)
    for index in [2, 0, 1, 1, 4, 3, *range(5, len(segments)), 0]:
        capture.add(segments[index])
    _, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    finding = located(report, f"{EU_HOST}:1883")
    assert finding["verdict"] == "fail" and finding["protocol"] == "mqtt"
    assert "missing" not in finding["detail"]


def test_gzip_chunked_body_is_decoded(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    body = gzip.compress(LOCATION)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 16]), body[i:i + 16]) for i in range(0, len(body), 16))
    capture = CaptureBuilder()
    http_post(capture, (EU_HOST, 80), chunked + b"0\r\n\r\n",
              headers="Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n")
    _, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    finding = located(report, f"{EU_HOST}:80")
    assert finding["verdict"] == "fail" and {"location", "vin"} <= set(finding["categories"])


# -- bad input: never pass ---------------------------------------------------------------------------------
def test_truncated_capture_is_not_judged_pass(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    gbt_session(capture, (VEHICLE, 40001), (CN_PLATFORM, 32960))
    whole = capture.write(tmp_path / "c.pcapng").read_bytes()
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(whole[:-30])
    status, report = analyze(cut, netmap, capsys)
    assert status == 3 and any("truncated" in f["detail"] for f in report["findings"])
    cut.write_bytes(whole[:20])
    status, report = analyze(cut, netmap, capsys)
    assert status == 4 and "too short" in report["findings"][0]["detail"]


def test_unknown_link_type_is_inconclusive(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    gbt_session(capture, (VEHICLE, 40001), (CN_PLATFORM, 32960))
    status, report = analyze(capture.write_pcap(tmp_path / "c.pcap", linktype=147), netmap, capsys)
    assert status == 3 and any("link type 147" in f["detail"] for f in report["findings"])


@pytest.mark.parametrize("defect", ["bad-bcc", "truncated-mqtt", "broken-gzip", "tcp-gap"])
def test_malformed_payload_to_foreign_address_is_inconclusive(defect: str, tmp_path: Path, netmap: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    server = (EU_HOST, 8883)
    if defect == "bad-bcc":
        frame = bytearray(gbt32960.build_realtime(VIN, WHEN, vehicle=VehicleData(speed_kmh=50)))
        frame[-1] ^= 0xFF
        conversation = capture.tcp((VEHICLE, 44000), server)
        conversation.send(True, bytes(frame))
        expected = "BCC"
    elif defect == "truncated-mqtt":
        conversation = capture.tcp((VEHICLE, 44000), server)
        conversation.send(True, mqtt_connect() + mqtt_publish("t/speed", json.dumps({"speed": 5}).encode())[:-4])
        expected = "cut off"
    elif defect == "broken-gzip":
        http_post(capture, server, b"\x1f\x8b\x08\x00garbage-not-deflate", headers="Content-Encoding: gzip\r\n")
        expected = "gzip"
    else:
        conversation = capture.tcp((VEHICLE, 44000), server)
        conversation.send(True, mqtt_connect())
        first, _lost, third = conversation.segments(True, b"".join(
            mqtt_publish("t/speed", json.dumps({"speed": n}).encode()) for n in range(3)), size=20)[:3]
        capture.add(first)
        capture.add(third)
        expected = "missing"
    status, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    finding = located(report, f"{EU_HOST}:8883")
    assert (status, finding["verdict"]) == (3, "inconclusive")
    assert expected in finding["detail"]


def test_capture_without_drop_counters_is_still_judged(tmp_path: Path, netmap: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """A third-party pcap has no capturer counters: it is judged on what it holds."""
    capture = CaptureBuilder()
    gbt_session(capture, (VEHICLE, 40001), (CN_PLATFORM, 32960))
    pcap = capture.write_pcap(tmp_path / "c.pcap")
    assert main(["analyze", str(pcap), "--profile", "cn", "--netmap", str(netmap), "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["verdict"] == "pass" and "no drop counters" in err


@pytest.mark.parametrize(("stats", "status"), [(None, 3), ((100, 0), 0), ((100, 4), 3)])
def test_rig_captures_need_clean_drop_counters(stats: tuple[int, int] | None, status: int, tmp_path: Path,
                                               netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder()
    gbt_session(capture, (VEHICLE, 40001), (CN_PLATFORM, 32960))
    assert analyze(capture.write(tmp_path / "c.pcapng", stats=stats, rig=True), netmap, capsys)[0] == status
