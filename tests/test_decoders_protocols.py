"""The payload decoders one by one: HTTP/1.1 framing and encodings, MQTT 3.1.1 and 5, DNS names,
TLS ClientHello and records, images and their categories, and the flow table's reassembly."""

from __future__ import annotations

import base64
import gzip
import json
import struct
import zlib
from pathlib import Path

import pytest

from harness.net.classify import classify_body, embedded_image, image_format, vin_in_names
from harness.net.dns import DnsError, collect_names, parse_dns
from harness.net.evidence import load_evidence
from harness.net.flows import FlowTable
from harness.net.http import decode_http, parse_messages
from harness.net.mqtt import decode_mqtt, split_packets
from harness.net.payload_model import StreamClock
from harness.net.payloads import describe
from harness.net.pcapfile import CaptureInfo, iter_capture
from harness.net.tls import parse_client_hello, split_records
from tests.capture_builder import (
    EU_HOST,
    UNMAPPED,
    VEHICLE,
    VEHICLE6,
    VIN,
    CaptureBuilder,
    client_hello,
    mqtt_connect,
    mqtt_publish,
)

CLOCK = StreamClock([(0, 1.0)])
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(64)
PNG = b"\x89PNG\r\n\x1a\n" + bytes(64)


# -- HTTP ---------------------------------------------------------------------------------------------
def _request(body: bytes, headers: str = "", target: str = "/up") -> bytes:
    return f"POST {target} HTTP/1.1\r\nHost: tsp.example.cn:8443\r\n{headers}".encode() + b"\r\n" + body


def test_http_pipelined_requests_with_chunked_gzip_and_deflate() -> None:
    body = gzip.compress(json.dumps({"lat": 31.2, "lon": 121.4}).encode())
    chunked = b"".join(b"%x;ext=1\r\n%s\r\n" % (len(body[i:i + 7]), body[i:i + 7]) for i in range(0, len(body), 7))
    deflated = zlib.compress(json.dumps({"face_id": "f1"}).encode())
    raw_deflate = zlib.compressobj(wbits=-15)
    raw = raw_deflate.compress(b'{"dtc": ["P0001"]}') + raw_deflate.flush()
    stream = (_request(chunked + b"0\r\nX-Trailer: 1\r\n\r\n",
                       "Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n")
              + _request(deflated, f"Content-Encoding: deflate\r\nContent-Length: {len(deflated)}\r\n")
              + _request(raw, f"Content-Encoding: deflate\r\nContent-Length: {len(raw)}\r\n")
              + b"GET /cfg?vin=X&speed=1 HTTP/1.1\r\nHost: tsp.example.cn\r\n\r\n")
    result = decode_http(stream, CLOCK)
    assert result.decodable, result.problems
    assert [sorted(i.categories) for i in result.items] == [["location"], ["biometric"], ["diagnostics"],
                                                            ["vehicle_state", "vin"]]
    assert result.items[0].location == (31.2, 121.4)
    assert result.names == {"tsp.example.cn"}


@pytest.mark.parametrize(("stream", "problem"), [
    (_request(b"\x1f\x8b\x08\x00not-deflate", "Content-Encoding: gzip\r\nContent-Length: 22\r\n"), "broken gzip"),
    (_request(gzip.compress(b'{"lat": 1}')[:-8], "Content-Encoding: gzip\r\nContent-Length: 22\r\n"), "truncated"),
    (_request(b'{"lat": 1', "Content-Length: 40\r\n"), "cut off"),
    (_request(b"5\r\nabc", "Transfer-Encoding: chunked\r\n"), "cut off"),
    (_request(b"zz\r\n", "Transfer-Encoding: chunked\r\n"), "malformed chunk size"),
    (_request(b"{}", "Content-Encoding: zstd\r\nContent-Length: 2\r\n"), "'zstd' not decoded"),
    (_request(b"{}", "Content-Encoding: br\r\nContent-Length: 2\r\n"), "broken br body"),
    (_request(b"{}", "Content-Length: 2\r\nContent-Length: 3\r\n"), "invalid Content-Length"),
    (b"POST /x HTTP/1.1\r\nHost: a\r\nBroken header line\r\n\r\n", "malformed header"),
    (_request(b"plain text, not JSON", "Content-Length: 20\r\n"), "neither JSON nor an image"),
])
def test_http_problems_make_the_payload_undecodable(stream: bytes, problem: str) -> None:
    result = decode_http(stream, CLOCK)
    assert not result.decodable
    assert any(problem in p for p in result.problems), result.problems


def test_http_responses_follow_the_request_methods() -> None:
    """A HEAD response has no body although it names a length; the next response follows at once."""
    responses = (b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n"
                 b"HTTP/1.1 100 Continue\r\n\r\n"
                 b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"soc\": 80.5}")
    messages, stopped = parse_messages(responses, ["HEAD", "POST"])
    assert stopped is None and [m.status for m in messages] == [200, 100, 200]
    result = decode_http(responses, CLOCK, ["HEAD", "POST"])
    assert result.decodable and result.categories == {"vehicle_state"}


def test_http_multipart_image_is_classified_by_field_name() -> None:
    boundary = "b0undary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"vin\"\r\n\r\n{VIN}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"dms_image\"; filename=\"f.jpg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + JPEG + f"\r\n--{boundary}--\r\n".encode()
    stream = _request(body, f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                            f"Content-Length: {len(body)}\r\n")
    result = decode_http(stream, CLOCK)
    assert result.decodable, result.problems
    assert result.categories == {"vin", "cabin_imagery"}


# -- images -------------------------------------------------------------------------------------------
def test_image_magic_and_base64() -> None:
    assert image_format(JPEG) == "JPEG" and image_format(PNG) == "PNG"
    assert image_format(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "WebP" and image_format(b"{}") is None
    assert embedded_image(base64.b64encode(PNG).decode()) == "PNG"
    assert embedded_image("data:image/jpeg;base64," + base64.b64encode(JPEG).decode()) == "JPEG"
    assert embedded_image("LHVTEST0000000001") is None


@pytest.mark.parametrize(("payload", "names", "categories", "decodable"), [
    (JPEG, ["vehicles", "cabin_cam", "frame"], {"cabin_imagery"}, True),
    (JPEG, ["adas", "front-camera"], {"exterior_imagery"}, True),
    (PNG, ["uploads", "blob"], set(), False),
    (json.dumps({"road_image": base64.b64encode(JPEG).decode()}).encode(), [], {"exterior_imagery"}, True),
    (json.dumps({"frames": [{"interior": base64.b64encode(PNG).decode()}]}).encode(), [], {"cabin_imagery"}, True),
    (json.dumps({"img": base64.b64encode(JPEG).decode(), "vin": VIN}).encode(), ["t"], {"vin"}, False),
])
def test_image_category_comes_from_names(payload: bytes, names: list[str], categories: set[str],
                                         decodable: bool) -> None:
    result = classify_body(payload, names)
    assert result.categories == categories and result.decodable is decodable and result.images == 1


def test_vin_pattern() -> None:
    assert vin_in_names(["vehicles", VIN, "telemetry"])
    assert not vin_in_names(["ABCDEFGHJKLMNPRST", "12345678901234567", "vehicle-status-updates"])


# -- MQTT ---------------------------------------------------------------------------------------------
def test_mqtt5_properties_topic_alias_and_will() -> None:
    will_topic, will_payload = b"status/will", json.dumps({"lat": 1.0, "lon": 2.0}).encode()
    connect_body = (b"\x00\x04MQTT\x05" + bytes([0x02 | 0x04]) + b"\x00\x3c" + b"\x05\x11\x00\x00\x00\x3c"
                    + b"\x00\x05tcu-5" + b"\x00" + struct.pack("!H", len(will_topic)) + will_topic
                    + struct.pack("!H", len(will_payload)) + will_payload)
    alias_and_type = b"\x23\x00\x07" + b"\x03\x00\x10application/json"
    stream = (b"\x10" + bytes([len(connect_body)]) + connect_body
              + mqtt_publish(f"v/{VIN}/pos", json.dumps({"speed": 3}).encode(), qos=1, level=5,
                             properties=alias_and_type)
              + mqtt_publish("", json.dumps({"soc": 50}).encode(), level=5, properties=b"\x23\x00\x07")
              + b"\xc0\x00" + b"\xe0\x00")  # PINGREQ, DISCONNECT
    result = decode_mqtt(stream, CLOCK)
    assert result.decodable, result.problems
    assert [sorted(i.categories) for i in result.items] == [["location"], ["vehicle_state", "vin"],
                                                            ["vehicle_state", "vin"]]
    assert "MQTT 5" in result.detail


@pytest.mark.parametrize(("stream", "problem"), [
    (mqtt_connect() + mqtt_publish("t", b'{"lat": 1}')[:-3], "cut off"),
    (mqtt_connect() + b"\x30\xff\xff\xff\xff\x01", "longer than four bytes"),
    (mqtt_connect() + b"\x36\x03\x00\x01t", "QoS 3"),
    (mqtt_connect() + b"\x80\x03\x00\x01\x00", "invalid MQTT fixed header"),  # SUBSCRIBE must carry flags 2
    (mqtt_connect() + mqtt_publish("t", b"\x00\x01binary"), "neither JSON nor an image"),
    (mqtt_connect(level=5) + mqtt_publish("", b"{}", level=5, properties=b"\x23\x00\x09"), "alias 9"),
])
def test_mqtt_problems(stream: bytes, problem: str) -> None:
    result = decode_mqtt(stream, CLOCK)
    assert not result.decodable and any(problem in p for p in result.problems), result.problems


def test_mqtt_split_keeps_offsets() -> None:
    packets, stopped = split_packets(mqtt_connect() + mqtt_publish("a/b", b"{}"))
    assert stopped is None and [p.kind for p in packets] == [1, 3]


# -- DNS ----------------------------------------------------------------------------------------------
def test_dns_names_follow_cname_chains(tmp_path: Path) -> None:
    capture = CaptureBuilder()
    capture.dns_answer("tsp.example.cn", UNMAPPED, via="edge.cdn.example.net")
    capture.dns_answer("analytics.example.eu", "2001:db8:49::140")
    evidence = load_evidence(capture.write(tmp_path / "d.pcapng"), None)
    assert evidence.dns_names_of(UNMAPPED) == ("edge.cdn.example.net", "tsp.example.cn")
    assert evidence.dns_names_of("2001:db8:49::140") == ("analytics.example.eu",)
    assert collect_names(evidence.flows.flows.values()).responses == 2


def test_dns_rejects_pointer_loops_and_cut_records() -> None:
    header = struct.pack("!HHHHHH", 1, 0x8180, 1, 0, 0, 0)
    with pytest.raises(DnsError, match="loop"):
        parse_dns(header + b"\xc0\x0c\x00\x01\x00\x01")
    with pytest.raises(DnsError):
        parse_dns(struct.pack("!HHHHHH", 1, 0x8180, 0, 1, 0, 0) + b"\x00\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xcb")


# -- TLS ----------------------------------------------------------------------------------------------
def test_client_hello_sni_across_two_records() -> None:
    hello = client_hello("Telemetry.Example.EU", b"\x42" * 32)
    handshake = hello[5:]
    split = (b"\x16\x03\x01" + struct.pack("!H", 30) + handshake[:30]
             + b"\x16\x03\x01" + struct.pack("!H", len(handshake) - 30) + handshake[30:])
    records, problem = split_records(split)
    assert problem is None and len(records) == 2
    parsed = parse_client_hello(records)
    assert parsed.sni == "telemetry.example.eu" and parsed.random == b"\x42" * 32


# -- flows, reassembly, describe ---------------------------------------------------------------------------
def test_reassembly_reordered_retransmitted_overlapping_ipv6(tmp_path: Path) -> None:
    capture = CaptureBuilder()
    conversation = capture.tcp((VEHICLE6, 45000), ("2001:db8:49::140", 1883))
    conversation.send(True, mqtt_connect())
    data = mqtt_publish("t/pos", json.dumps({"lat": 1.5, "lon": 2.5}).encode())
    segments = conversation.segments(True, data, size=9)
    overlap = conversation._packet(True, data[4:20], seq=conversation.seq[True] - len(data) + 4)
    for packet in [segments[1], segments[0], overlap, *reversed(segments[2:]), segments[1]]:
        capture.add(packet)
    evidence = load_evidence(capture.write(tmp_path / "r.pcapng"), None)
    flow = next(iter(evidence.flows.flows.values()))
    assert str(flow.client) == f"[{VEHICLE6}]:45000"
    payload = describe(flow)
    assert payload.decodable, payload.problems
    assert payload.items[-1].location == (1.5, 2.5)


def test_bytes_acknowledged_but_never_captured_are_missing(tmp_path: Path) -> None:
    capture = CaptureBuilder()
    conversation = capture.tcp((VEHICLE, 45001), (EU_HOST, 80))
    conversation.segments(True, b"POST / HTTP/1.1\r\n\r\n")  # sent, never captured
    conversation.send(False, b"HTTP/1.1 204 No Content\r\n\r\n")  # the server's answer acknowledges it
    flow = next(iter(load_evidence(capture.write(tmp_path / "a.pcapng"), None).flows.flows.values()))
    assert flow.to_server.stream()[1] == 19
    assert not describe(flow).decodable


def test_malformed_frames_are_counted_not_parsed(tmp_path: Path) -> None:
    capture = CaptureBuilder()
    capture.add(b"\x02" * 12 + b"\x08\x00" + b"\x45\x00\x00")   # IPv4 header cut short
    capture.add(b"\x02" * 12 + b"\x08\x06" + bytes(28))         # ARP: not IP, nothing to judge
    capture.add(b"\x02" * 5)                                    # shorter than an Ethernet header
    evidence = load_evidence(capture.write(tmp_path / "m.pcapng"), None)
    assert (evidence.flows.malformed, evidence.flows.non_ip) == (2, 1)
    assert any("could not be parsed" in p for p in evidence.completeness_problems())


def test_reader_and_table_agree_on_pcap_and_pcapng(tmp_path: Path) -> None:
    capture = CaptureBuilder()
    conversation = capture.tcp((VEHICLE, 45002), (EU_HOST, 443))
    conversation.send(True, client_hello("x.example.eu"))
    tables = []
    for path in (capture.write(tmp_path / "a.pcapng"), capture.write_pcap(tmp_path / "a.pcap")):
        info = CaptureInfo()
        packets = list(iter_capture(path, info))
        assert [p.data for p in packets] == [d for _, d in capture.packets]
        assert abs(packets[0].time - capture.packets[0][0]) < 1e-6
        table = FlowTable()
        for packet in packets:
            table.add(packet)
        tables.append(table)
    assert [len(t.flows) for t in tables] == [1, 1] and tables[0].packets == tables[1].packets == 4
