"""`harness analyze` with ground truth (`--truth`, `--dbc`): data found whatever the vehicle calls it,
opaque payload and unanswered connections abroad never pass, and bad truth input is one line, exit 2."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from harness.can.codec import VehicleCodec
from harness.can.mapping import reference_files
from harness.cli import main
from harness.net.pcapfile import LINKTYPE_CAN_SOCKETCAN, LINKTYPE_ETHERNET, PcapngWriter, socketcan_frame
from tests.capture_builder import CN_BROKER, EU_HOST, NETMAP, VEHICLE, VIN, CaptureBuilder
from tests.test_analyze_contract import _assert_contract_shape

START = 1_772_000_000.0
TRACK = [(START + i, 31.2304 + i * 1e-4, 121.4737 + i * 1e-4) for i in range(60)]


@pytest.fixture
def netmap(tmp_path: Path) -> Path:
    path = tmp_path / "netmap.toml"
    path.write_text(NETMAP, encoding="utf-8")
    return path


def with_can_track(capture: CaptureBuilder, path: Path) -> Path:
    """The capture's Ethernet packets plus the GNSS frames the harness sends on CAN, on one timeline."""
    dbc, mapping = reference_files()
    codec = VehicleCodec.load(dbc, mapping)
    message = codec.message(codec.ref("gnss.latitude_deg").message)
    records = [(t, LINKTYPE_ETHERNET, data) for t, data in capture.packets]
    for t, lat, lon in TRACK:
        frame = codec.encode(message, codec.to_dbc({"gnss.latitude_deg": lat, "gnss.longitude_deg": lon})[message.name])
        records.append((t, LINKTYPE_CAN_SOCKETCAN, socketcan_frame(frame.arbitration_id, bytes(frame.data))))
    with path.open("wb") as handle:
        writer = PcapngWriter(handle)
        interfaces = {LINKTYPE_ETHERNET: writer.interface(LINKTYPE_ETHERNET, "uplink"),
                      LINKTYPE_CAN_SOCKETCAN: writer.interface(LINKTYPE_CAN_SOCKETCAN, "can0")}
        for t, linktype, data in sorted(records, key=lambda r: r[0]):
            writer.packet(interfaces[linktype], t, data)
    return path


def post(capture: CaptureBuilder, server: tuple[str, int], target: str, body: bytes, headers: str = "",
         port: int = 41000) -> None:
    conversation = capture.tcp((VEHICLE, port), server)
    head = f"POST {target} HTTP/1.1\r\nHost: collector\r\n{headers}Content-Length: {len(body)}\r\n\r\n"
    conversation.send(True, head.encode() + body)
    conversation.send(False, b"HTTP/1.1 204 No Content\r\n\r\n")
    conversation.close()


def analyze(capture: Path, netmap: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    status = main(["analyze", str(capture), "--profile", "cn", "--netmap", str(netmap), "--json", *extra])
    report = json.loads(capsys.readouterr().out)
    _assert_contract_shape(report, status)
    return status, report


def to(report: dict[str, Any], address: str) -> dict[str, Any]:
    found = [f for f in report["findings"] if f["check"] == "locality" and f["dst"].startswith(address)]
    assert len(found) == 1, report["findings"]
    return found[0]


def test_position_under_other_keys_abroad_fails_with_the_track_from_the_captures_can(
        tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder(start=START + 5)
    post(capture, (EU_HOST, 8080), "/v2/ingest", json.dumps({"t": 5, "geo": {"la": 31.2309, "lo": 121.4742}}).encode())
    path = with_can_track(capture, tmp_path / "c.pcapng")
    status, report = analyze(path, netmap, capsys)
    assert status == 0, "without ground truth the keys name nothing: the contract's key table is the floor"
    status, report = analyze(path, netmap, capsys, "--dbc", str(reference_files()[0]))
    finding = to(report, EU_HOST)
    assert (status, finding["verdict"]) == (1, "fail")
    assert "location" in finding["categories"]
    assert finding["detail"].startswith("location (decimal text, 4 decimal places, about 11 m in the body) sent to EU")


def test_truth_file_finds_a_hashed_vin_and_a_phone_in_a_query(tmp_path: Path, netmap: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder(start=START)
    digest = hashlib.sha256(VIN.encode()).hexdigest()
    post(capture, (EU_HOST, 8080), "/v2/ping?c=8610000000000", b"{}", f"X-Device: {digest}\r\n")
    path = capture.write(tmp_path / "c.pcapng")
    truth = tmp_path / "truth.toml"
    truth.write_text(f'vin = "{VIN}"\nidentity = ["Wang Fang", "+86 100 0000 0000"]\n', encoding="utf-8")
    status, report = analyze(path, netmap, capsys, "--truth", str(truth))
    finding = to(report, EU_HOST)
    assert (status, finding["verdict"]) == (1, "fail")
    assert set(finding["categories"]) >= {"vin", "personal_identity"}
    assert "SHA-256 hex of the VIN in the headers" in finding["detail"]


def test_truth_file_positions_and_track_csv(tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder(start=START + 10)
    capture.udp((VEHICLE, 40000), (EU_HOST, 5005), b"\xa5\x01" + struct.pack(">ff", 31.2314, 121.4747))
    path = capture.write(tmp_path / "c.pcapng")
    (tmp_path / "track.csv").write_text("t,lat,lon\n" + "".join(f"{t},{a},{o}\n" for t, a, o in TRACK), "utf-8")
    truth = tmp_path / "truth.toml"
    truth.write_text('track = "track.csv"\ntolerance_m = 50\n', encoding="utf-8")
    status, report = analyze(path, netmap, capsys, "--truth", str(truth))
    assert (status, to(report, EU_HOST)["verdict"]) == (1, "fail")
    assert "float32, big-endian" in to(report, EU_HOST)["detail"]
    truth.write_text("window_s = 1\n[[position]]\nt = 1.0\nlat = 31.2314\nlon = 121.4747\n", encoding="utf-8")
    status, report = analyze(path, netmap, capsys, "--truth", str(truth))
    assert to(report, EU_HOST)["verdict"] == "inconclusive", "a position far from the track in time is not the track"


def test_hex_encoded_ciphertext_in_a_form_to_an_unmapped_address_is_inconclusive(
        tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder(start=START)
    blob = os.urandom(512).hex().encode()
    post(capture, ("198.51.100.77", 80), "/gate.php", b"id=42&data=" + blob,
         "Content-Type: application/x-www-form-urlencoded\r\n")
    status, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    finding = to(report, "198.51.100.77")
    assert (status, finding["verdict"]) == (3, "inconclusive")
    assert "512 bytes (body, hex) that no decoder opens" in finding["detail"]


@pytest.mark.parametrize("answer", ["none", "reset"])
def test_a_connection_attempt_abroad_that_carried_nothing_is_inconclusive(
        answer: str, tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder(start=START)
    conversation = capture.tcp((VEHICLE, 40100), (EU_HOST, 443), handshake=False)
    for _ in range(3):
        capture.add(conversation._packet(True, b"", "S"))
    if answer == "reset":
        capture.add(conversation._packet(False, b"", "RA"))
    status, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    finding = to(report, EU_HOST)
    assert (status, finding["verdict"]) == (3, "inconclusive")
    assert "the vehicle tried to send something to EU" in finding["detail"]


def test_a_connection_that_was_answered_and_closed_without_payload_passes(
        tmp_path: Path, netmap: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder(start=START)
    capture.tcp((VEHICLE, 40100), (EU_HOST, 443)).close()
    post(capture, (CN_BROKER, 8080), "/v1/status", json.dumps({"speed": 50}).encode(), port=41001)
    status, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    assert (status, to(report, EU_HOST)["verdict"]) == (0, "pass")


def test_a_vehicle_that_sent_nothing_at_all_is_inconclusive(tmp_path: Path, netmap: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """Every connection, domestic included, was refused: nothing the vehicle meant to send was seen."""
    capture = CaptureBuilder(start=START)
    for port in (41000, 41001):
        conversation = capture.tcp((VEHICLE, port), (CN_BROKER, 1883), handshake=False)
        capture.add(conversation._packet(True, b"", "S"))
        capture.add(conversation._packet(False, b"", "RA"))
    status, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    assert status == 3
    assert any("none of the 2 vehicle flows carried payload" in f["detail"] for f in report["findings"])


@pytest.mark.parametrize(("content", "problem"), [
    ("vin = [", "not a TOML truth file"),
    ("tolerance_m = 100\n", "no usable value"),
    ('vin = ""\n', "vin must be a non-empty string"),
    ("identity = [1]\n", "identity must be a list of non-empty strings"),
    ("tolerance_m = -5\nvin = 'X'\n", "tolerance_m must be a positive number"),
    ("[[position]]\nlat = 95.0\nlon = 10.0\n", "is not a WGS84 position"),
    ("[[position]]\nlat = 'north'\nlon = 10.0\n", "lat must be a number"),
    ('track = "missing.csv"\n', "cannot read the track file"),
    ('track = "bad.csv"\n', "row 2: '1,north,3' is not t,lat,lon numbers"),
    ('track = "short.csv"\n', "row 1: expected 3 columns"),
    ("speed = 3\n", "unknown key 'speed'"),
])
def test_bad_truth_input_is_one_line_and_exit_2(content: str, problem: str, tmp_path: Path, netmap: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder(start=START)
    post(capture, (EU_HOST, 8080), "/x", b"{}")
    path = capture.write(tmp_path / "c.pcapng")
    (tmp_path / "bad.csv").write_text("t,lat,lon\n1,north,3\n", encoding="utf-8")
    (tmp_path / "short.csv").write_text("1,2\n", encoding="utf-8")
    truth = tmp_path / "truth.toml"
    truth.write_text(content, encoding="utf-8")
    status = main(["analyze", str(path), "--profile", "cn", "--netmap", str(netmap), "--truth", str(truth)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1, err
    assert problem in err[0] and ("truth.toml" in err[0] or ".csv" in err[0]), err[0]


def test_a_dbc_without_position_signals_is_exit_2(tmp_path: Path, netmap: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    capture = CaptureBuilder(start=START)
    post(capture, (EU_HOST, 8080), "/x", b"{}")
    path = capture.write(tmp_path / "c.pcapng")
    dbc = tmp_path / "other.dbc"
    dbc.write_text('VERSION ""\n\nBU_: ECU\n\nBO_ 256 Speed: 8 ECU\n'
                   ' SG_ VehSpd : 0|16@1+ (0.01,0) [0|655.35] "km/h" ECU\n', encoding="utf-8")
    mapping = tmp_path / "map.toml"
    mapping.write_text('[signals]\n"vehicle.speed_kph" = "Speed.VehSpd"\n[nodes]\necu = "ECU"\n', encoding="utf-8")
    status = main(["analyze", str(path), "--profile", "cn", "--netmap", str(netmap), "--dbc", str(dbc),
                   "--mapping", str(mapping)])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "no position signals" in err[0], err
    status = main(["analyze", str(path), "--profile", "cn", "--netmap", str(netmap), "--mapping", str(mapping)])
    assert status == 2 and "--mapping needs --dbc" in capsys.readouterr().err


def test_a_brotli_body_is_decoded_where_content_encoding_says_so(tmp_path: Path, netmap: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import brotli

    capture = CaptureBuilder(start=START)
    body = brotli.compress(json.dumps({"lat": 48.8566, "lon": 2.3522}).encode())
    post(capture, (EU_HOST, 8080), "/v1/t", body, "Content-Type: application/json\r\nContent-Encoding: br\r\n")
    status, report = analyze(capture.write(tmp_path / "c.pcapng"), netmap, capsys)
    assert (status, to(report, EU_HOST)["verdict"]) == (1, "fail")
    assert "location" in to(report, EU_HOST)["categories"]
