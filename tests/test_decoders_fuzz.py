"""Malformed input through every decoder, bounded: nothing raises, whatever the bytes. Plus the quick
GB/T 32960 unit scan held to the scapy layer's answer wherever it gives one."""

from __future__ import annotations

import json
import struct
import tempfile
import tomllib
from datetime import datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6

from harness.checks.locality import check_locality
from harness.findings import Verdict
from harness.net import gbt32960
from harness.net.classify import classify_body
from harness.net.dns import DnsError, parse_dns
from harness.net.evidence import load_evidence
from harness.net.flows import FlowTable
from harness.net.gbt32960_scan import scan_report
from harness.net.gbt32960_units import (
    Alarms,
    Extremes,
    GBT32960ProbeTemperatures,
    GBT32960StorageTemperatures,
    Location,
    MotorData,
    VehicleData,
)
from harness.net.http import decode_http
from harness.net.mqtt import decode_mqtt
from harness.net.payload_model import StreamClock
from harness.net.payloads import decode_stream, describe
from harness.net.pcapfile import CaptureFormatError, CaptureInfo, iter_records
from harness.net.tls import parse_client_hello, server_chose_tls13, split_records
from harness.policy.netmap import parse_netmap
from harness.policy.policy import Policy
from harness.policy.profile import load_profile
from tests.capture_builder import NETMAP, VIN, CaptureBuilder, client_hello, mqtt_connect, mqtt_publish

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
HEAVY = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
CLOCK = StreamClock([(0, 1.0)])
WHEN = datetime(2026, 3, 1, 8, 0, 0)
REPORT = gbt32960.build_realtime(VIN, WHEN, vehicle=VehicleData(speed_kmh=30), location=Location(31.2, 121.4))


def _mutated(seed: bytes) -> st.SearchStrategy[bytes]:
    """The seed with bytes flipped, cut or appended: malformed but deep enough to reach the parsers."""
    return st.tuples(st.lists(st.tuples(st.integers(0, max(len(seed) - 1, 0)), st.integers(0, 255)), max_size=6),
                     st.integers(0, len(seed)), st.binary(max_size=40)).map(
        lambda m: _apply(seed, *m))


def _apply(seed: bytes, flips: list[tuple[int, int]], cut: int, tail: bytes) -> bytes:
    data = bytearray(seed)
    for index, value in flips:
        if index < len(data):
            data[index] = value
    return bytes(data[:cut]) + tail


STREAMS = st.one_of(
    st.binary(max_size=300),
    _mutated(mqtt_connect(level=5) + mqtt_publish("a/b", b'{"lat": 1, "lon": 2}', qos=1, level=5,
                                                  properties=b"\x23\x00\x01")),
    _mutated(b"POST /x?vin=1 HTTP/1.1\r\nHost: a.example\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
             b"\r\n5\r\n\x1f\x8b\x08\x00\x00\r\n0\r\n\r\n"),
    _mutated(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n{}{}"),
    _mutated(client_hello("x.example.eu") + b"\x17\x03\x03\x00\x05hello"),
    _mutated(REPORT + REPORT),
    _mutated(json.dumps({"face": "/9j/4AAQSkZJRgABAQ", "lat": 1}).encode()),
)


@FUZZ
@given(STREAMS, STREAMS)
def test_stream_decoders_never_raise(stream: bytes, other: bytes) -> None:
    for result in (decode_stream(stream, CLOCK, lambda: other), decode_mqtt(stream, CLOCK),
                   decode_mqtt(stream, CLOCK, 5), decode_http(stream, CLOCK, ["HEAD", "GET"]),
                   classify_body(stream, ["t"], "multipart/form-data")):
        assert result is not None
    records, _ = split_records(stream)
    parse_client_hello(records)
    server_chose_tls13(records)


@FUZZ
@given(st.one_of(st.binary(max_size=200), _mutated(bytes.fromhex(
    "00078180000100020000000003747370076578616d706c6502636e0000010001c00c000500010000003c0006036564676"
    "5c010c03400010001000000000004cb0071dc"))))
def test_dns_parser_raises_only_its_own_error(data: bytes) -> None:
    try:
        parse_dns(data)
    except DnsError:
        pass


TCP_FRAME = CaptureBuilder().frame(IP(src="198.51.100.2", dst="203.0.113.5") / TCP(sport=1, dport=2) / b"##payload")
UDP6_FRAME = CaptureBuilder().frame(IPv6(src="2001:db8::2", dst="2001:db8::5") / UDP(sport=53, dport=53)
                                    / bytes(12))
FRAMES = st.lists(st.tuples(st.sampled_from([1, 1, 1, 101, 113, 276, 228, 229, 147]),
                            st.one_of(st.binary(max_size=120), _mutated(TCP_FRAME), _mutated(UDP6_FRAME))),
                  max_size=30)


@FUZZ
@given(FRAMES)
def test_flow_table_counts_whatever_it_cannot_parse(frames: list[tuple[int, bytes]]) -> None:
    table = FlowTable()
    other: list[int] = []
    table.add_frames(((float(i), linktype, data, len(data), 0) for i, (linktype, data) in enumerate(frames)),
                     other=lambda _t, linktype, _d: other.append(linktype))
    assert table.packets + len(other) == len(frames)
    for flow in table.flows.values():
        describe(flow)
        describe(flow, from_client=False)


def _capture_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as directory:
        capture = CaptureBuilder()
        conversation = capture.tcp(("198.51.100.2", 40000), ("203.0.113.140", 32960))
        conversation.send(True, REPORT)
        capture.udp(("198.51.100.2", 5000), ("203.0.113.140", 53), b"\x00\x01\x01\x00\x00\x01" + bytes(6))
        return capture.write(Path(directory) / "c.pcapng", stats=(10, 0)).read_bytes()


CAPTURE = _capture_bytes()
POLICY = Policy(load_profile("cn"), parse_netmap(tomllib.loads(NETMAP), "test netmap"))


@HEAVY
@given(st.one_of(_mutated(CAPTURE), st.binary(min_size=24, max_size=200).map(lambda b: b"\n\r\r\n" + b)))
def test_mutated_captures_are_read_or_refused_cleanly(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "m.pcapng"
        path.write_bytes(data)
        try:
            list(iter_records(path, CaptureInfo()))
            evidence = load_evidence(path, None)
        except CaptureFormatError:
            return
        findings = check_locality(evidence, POLICY)
        assert findings
        if evidence.info.truncated:
            assert any(f.verdict is Verdict.INCONCLUSIVE and "truncated" in f.detail for f in findings)


# -- the quick GB/T 32960 scan answers only where the scapy layer gives the same answer ---------------------
UNITS = st.fixed_dictionaries({}, optional={
    "vehicle": st.builds(VehicleData, speed_kmh=st.integers(0, 2000).map(lambda v: v / 10)),
    "motors": st.lists(st.builds(MotorData, serial=st.integers(1, 9)), min_size=1, max_size=3),
    "location": st.builds(Location, st.integers(-90_000_000, 90_000_000).map(lambda v: v / 1e6),
                          st.integers(-180_000_000, 180_000_000).map(lambda v: v / 1e6), st.booleans()),
    "extremes": st.builds(Extremes),
    "alarms": st.builds(Alarms, storage_faults=st.lists(st.integers(0, 2**32 - 1), max_size=3).map(tuple),
                        other_faults=st.lists(st.integers(0, 2**32 - 1), max_size=2).map(tuple)),
})


def _with_bcc(frame: bytes) -> bytes:
    """The frame with its length and BCC made consistent again after a mutation of the data unit."""
    if len(frame) < gbt32960.HEADER_LEN + 1:
        return frame
    body = frame[:22] + struct.pack("!H", len(frame) - gbt32960.HEADER_LEN - 1) + frame[24:-1]
    return body + bytes((gbt32960.bcc(body[2:]),))


@FUZZ
@given(UNITS, st.booleans(), st.integers(0, 3), st.data())
def test_gbt32960_scan_agrees_with_the_scapy_layer(units: dict[str, object], temperatures: bool, mutations: int,
                                                   data: st.DataObject) -> None:
    extra = [GBT32960StorageTemperatures(subsystems=[GBT32960ProbeTemperatures(temperatures_c=[20, 21])])] \
        if temperatures else []
    frame = gbt32960.build_realtime(VIN, WHEN, extra_units=extra, **units)  # type: ignore[arg-type]
    raw = bytearray(frame)
    for _ in range(mutations):
        raw[data.draw(st.integers(gbt32960.HEADER_LEN, len(raw) - 2))] = data.draw(st.integers(0, 255))
    raw = bytearray(_with_bcc(bytes(raw)))
    scanned = scan_report(bytes(raw))
    decoded = gbt32960.decode_frame(bytes(raw))
    if mutations == 0:
        assert scanned is not None
    if scanned is None:
        return
    assert decoded.bcc_ok and not decoded.partial and not decoded.encrypted
    assert scanned.unit_types == decoded.info_unit_types
    expected = (decoded.location.latitude, decoded.location.longitude) if decoded.location else None
    assert scanned.location == expected
