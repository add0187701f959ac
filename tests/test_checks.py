"""The locality and OTA-consent checks on captures built here: vehicle traffic to in-jurisdiction and
foreign addresses, approved exports, undecodable payloads, capture completeness, and CAN timelines."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether

from harness.can.codec import VehicleCodec
from harness.checks.locality import check_locality
from harness.checks.ota import check_consent
from harness.findings import Finding, Verdict, overall
from harness.net.evidence import Evidence, load_evidence
from harness.net.gbt32960 import Location, VehicleData, build_login, build_realtime
from harness.net.pcapfile import (
    LINKTYPE_CAN_SOCKETCAN,
    LINKTYPE_ETHERNET,
    RIG_CAPTURE,
    PcapngWriter,
    socketcan_frame,
)
from harness.policy.netmap import parse_netmap
from harness.policy.policy import Policy
from harness.policy.profile import load_profile

ROOT = Path(__file__).resolve().parents[1]
CODEC = VehicleCodec.load(ROOT / "dbc" / "vehicle.dbc", ROOT / "dbc" / "vehicle.signals.toml")
CAR, CN, EU = "198.51.100.2", "203.0.113.20", "203.0.113.200"
# the addresses and regions of rigs/virtual.toml, without its approved exports (those are set per test)
NETMAP = {"vehicle": {"addresses": [CAR]},
          "endpoint": [{"cidr": "203.0.113.0/25", "region": "CN"}, {"cidr": "203.0.113.128/25", "region": "EU"}]}
POLICY = Policy(load_profile("cn"), parse_netmap(NETMAP, "test netmap"))
VIN = "LHVTEST0000000001"
WHEN = datetime(2026, 3, 1, 8, 30, 0)
REPORT = build_realtime(VIN, WHEN, vehicle=VehicleData(speed_kmh=42.5, soc_pct=77),
                        location=Location(31.2304, 121.4737))

Frames = list[tuple[float, bytes]]


# --- building captures ----------------------------------------------------------------------------


def _session(dst: str, dport: int, payload: bytes, t0: float = 100.0, sport: int = 40000, mss: int = 64) -> Frames:
    """A TCP handshake from the vehicle, then `payload` in segments of at most `mss` bytes."""
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    up, down = IP(src=CAR, dst=dst), IP(src=dst, dst=CAR)
    layers = [up / TCP(sport=sport, dport=dport, flags="S", seq=1000),
              down / TCP(sport=dport, dport=sport, flags="SA", seq=5000, ack=1001),
              up / TCP(sport=sport, dport=dport, flags="A", seq=1001, ack=5001)]
    for start in range(0, len(payload), mss):
        layers.append(up / TCP(sport=sport, dport=dport, flags="PA", seq=1001 + start, ack=5001)
                      / payload[start:start + mss])
    return [(t0 + i * 0.01, bytes(eth / layer)) for i, layer in enumerate(layers)]


def _capture(path: Path, ethernet: Frames = (), can: Frames = (), stats: tuple[int, int] | None = (1000, 0),
             can_stats: tuple[int, int] | None = None, application: str | None = RIG_CAPTURE) -> Path:
    items = sorted([(t, "eth", d) for t, d in ethernet] + [(t, "can", d) for t, d in can], key=lambda i: i[0])
    with path.open("wb") as handle:
        writer = PcapngWriter(handle, application=application)
        ifaces = {"eth": writer.interface(LINKTYPE_ETHERNET, "up0"),
                  "can": writer.interface(LINKTYPE_CAN_SOCKETCAN, "vcan0")}
        for time, kind, data in items:
            writer.packet(ifaces[kind], time, data)
        last = items[-1][0] if items else 0.0
        if stats is not None:
            writer.statistics(ifaces["eth"], last, *stats)
        if can_stats is not None:
            writer.statistics(ifaces["can"], last, *can_stats)
    return path


def _evidence(tmp_path: Path, **kwargs: Any) -> Evidence:
    return load_evidence(_capture(tmp_path / "capture.pcapng", **kwargs), CODEC)


def _varint(n: int) -> bytes:
    out = b""
    while True:
        n, byte = divmod(n, 128)
        out += bytes([byte | (0x80 if n else 0)])
        if not n:
            return out


def _mqtt_publish(topic: str, document: dict[str, Any]) -> bytes:
    head = b"\x00\x04MQTT\x04\x02\x00\x3c" + b"\x00\x03car"
    connect = b"\x10" + _varint(len(head)) + head
    body = struct.pack("!H", len(topic)) + topic.encode() + json.dumps(document).encode()
    return connect + b"\x30" + _varint(len(body)) + body


def _http_post(path: str, document: dict[str, Any]) -> bytes:
    body = json.dumps(document).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: cloud.example\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def _by(findings: list[Finding], verdict: Verdict) -> list[Finding]:
    return [f for f in findings if f.verdict is verdict]


# --- locality -------------------------------------------------------------------------------------


def test_realtime_location_to_eu_fails_naming_location_and_vin(tmp_path: Path) -> None:
    evidence = _evidence(tmp_path, ethernet=_session(EU, 32960, REPORT, mss=40))
    assert evidence.completeness_problems() == []
    findings = check_locality(evidence, POLICY)
    assert overall(findings) is Verdict.FAIL
    (fail,) = _by(findings, Verdict.FAIL)
    assert {"location", "vin"} <= set(fail.categories)
    assert "location" in fail.detail and "vin" in fail.detail and "EU" in fail.detail
    assert fail.dst == f"{EU}:32960" and fail.src == f"{CAR}:40000" and fail.region == "EU"
    assert fail.protocol == "gbt32960"
    assert fail.clause == POLICY.profile.rule("locality.regulated-data").primary


def test_realtime_location_to_cn_passes(tmp_path: Path) -> None:
    login = build_login(VIN, WHEN, 1, "89860012345678901234")
    evidence = _evidence(tmp_path, ethernet=_session(CN, 32960, login + REPORT))
    findings = check_locality(evidence, POLICY)
    assert overall(findings) is Verdict.PASS
    assert "1 of 1 vehicle flows stay inside CN" in findings[-1].detail


def test_approved_export_covers_the_categories(tmp_path: Path) -> None:
    evidence = _evidence(tmp_path, ethernet=_session(EU, 32960, REPORT))
    exports = {"approved_export": [{"destination": EU, "categories": ["location", "vin", "vehicle_state"],
                                    "appraisal": "CAC security assessment 2026-001"}]}
    findings = check_locality(evidence, Policy(POLICY.profile, parse_netmap(NETMAP | exports, "test netmap")))
    assert overall(findings) is Verdict.PASS
    assert any("approved export" in f.detail and f.dst == f"{EU}:32960" for f in findings)
    # an export that leaves out one regulated category still fails, naming only that category
    exports["approved_export"][0]["categories"] = ["vin", "vehicle_state"]
    findings = check_locality(evidence, Policy(POLICY.profile, parse_netmap(NETMAP | exports, "test netmap")))
    (fail,) = _by(findings, Verdict.FAIL)
    assert fail.detail.startswith("location sent to EU")


@pytest.mark.parametrize(("dport", "payload", "verdict", "protocol", "category"), [
    (1883, _mqtt_publish("car/telemetry", {"lat": 31.2, "lon": 121.4, "speed": 5}), Verdict.FAIL, "mqtt", "location"),
    (1883, _mqtt_publish("car/state", {"speed": 50, "gear": "D"}), Verdict.PASS, "mqtt", None),
    (8080, _http_post("/v1/driver", {"driver": {"face_image": "aGVsbG8=", "seat": 1}}), Verdict.FAIL, "http",
     "biometric"),
    (8080, b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n{}", Verdict.INCONCLUSIVE, "http", None),
    (7443, bytes(range(7, 250)) * 2, Verdict.INCONCLUSIVE, "tcp", None),
], ids=["mqtt-position", "mqtt-state-only", "http-face-image", "http-bad-length", "unknown-bytes"])
def test_payloads_to_eu(tmp_path: Path, dport: int, payload: bytes, verdict: Verdict, protocol: str,
                        category: str | None) -> None:
    findings = check_locality(_evidence(tmp_path, ethernet=_session(EU, dport, payload, mss=20)), POLICY)
    assert overall(findings) is verdict
    (judged,) = [f for f in findings if f.dst == f"{EU}:{dport}"]
    assert judged.verdict is verdict and judged.protocol == protocol and judged.region == "EU"
    if category:
        assert category in judged.categories and category in judged.detail
    if verdict is Verdict.INCONCLUSIVE:
        assert "could not be decoded" in judged.detail


@pytest.mark.parametrize(("damage", "words"), [("drops", "dropped 3"), ("no-isb", "drop counters"),
                                               ("truncated", "truncated")])
def test_incomplete_capture_is_inconclusive(tmp_path: Path, damage: str, words: str) -> None:
    stats = {"drops": (100, 3), "no-isb": None}.get(damage, (100, 0))
    path = _capture(tmp_path / "c.pcapng", ethernet=_session(CN, 32960, REPORT), stats=stats)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:-60])   # into the last packet: the ISB after it is gone too
    evidence = load_evidence(path, CODEC)
    assert evidence.info.rig_capture and evidence.completeness_problems()
    findings = check_locality(evidence, POLICY)
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert any(words in f.detail for f in _by(findings, Verdict.INCONCLUSIVE))


def test_foreign_capture_without_isb_is_judged_on_its_packets(tmp_path: Path) -> None:
    # a capture from another tool carries no promise of drop counters: noted, not held against it
    evidence = _evidence(tmp_path, ethernet=_session(EU, 32960, REPORT), stats=None, application=None)
    assert not evidence.info.rig_capture and evidence.completeness_notes()
    assert overall(check_locality(evidence, POLICY)) is Verdict.FAIL


def test_no_vehicle_traffic_is_inconclusive(tmp_path: Path) -> None:
    stranger = Ether(src="02:00:00:00:00:09", dst="02:00:00:00:00:02") / IP(src="198.51.100.99", dst=EU)
    other = [(t, bytes(stranger / TCP(sport=1234, dport=80, flags="S"))) for t in (1.0, 2.0)]
    evidence = _evidence(tmp_path, ethernet=other)
    findings = check_locality(evidence, POLICY)
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert any("no traffic from the vehicle" in f.detail for f in findings)
    assert overall(check_locality(_evidence(tmp_path), POLICY)) is Verdict.INCONCLUSIVE   # empty capture


def test_mid_stream_flow_from_a_low_vehicle_port_is_still_judged(tmp_path: Path) -> None:
    # no SYN captured and the vehicle's port (32800) is below the service's (32960): the flow is
    # oriented the wrong way round, and must still be judged as the vehicle's
    ethernet = _session(CN, 32960, REPORT, t0=10.0) + _session(EU, 32960, REPORT, t0=20.0, sport=32800)[3:]
    findings = check_locality(_evidence(tmp_path, ethernet=ethernet), POLICY)
    assert overall(findings) is Verdict.FAIL


def test_one_foreign_flow_among_domestic_ones_fails(tmp_path: Path) -> None:
    ethernet = _session(CN, 32960, REPORT, t0=10.0) + _session(EU, 32960, REPORT, t0=20.0, sport=40001)
    findings = check_locality(_evidence(tmp_path, ethernet=ethernet), POLICY)
    assert len(_by(findings, Verdict.FAIL)) == 1
    assert "1 of 2 vehicle flows stay inside CN" in findings[-1].detail


@settings(max_examples=100, deadline=None)
@given(dropped=st.integers(min_value=1, max_value=2**40), received=st.integers(min_value=0, max_value=10**9),
       dst=st.sampled_from([CN, EU]), kind=st.sampled_from(["gbt", "mqtt", "none"]), on_can=st.booleans())
def test_reported_drops_never_give_an_overall_pass(tmp_path_factory: pytest.TempPathFactory, dropped: int,
                                                   received: int, dst: str, kind: str, on_can: bool) -> None:
    payload = {"gbt": REPORT, "mqtt": _mqtt_publish("t", {"speed": 1}), "none": b""}[kind]
    ethernet = _session(dst, 32960, payload) if payload else _session(dst, 32960, b"")[:1]
    stats, can_stats = ((received, 0), (received, dropped)) if on_can else ((received, dropped), None)
    path = _capture(tmp_path_factory.mktemp("drops") / "c.pcapng", ethernet=ethernet, stats=stats,
                    can_stats=can_stats)
    findings = check_locality(load_evidence(path, CODEC), POLICY)
    assert overall(findings) is not Verdict.PASS
    assert any(f.verdict is Verdict.INCONCLUSIVE and "dropped" in f.detail for f in findings)


# --- OTA consent ----------------------------------------------------------------------------------


def _can(events: Iterable[tuple[float, str, dict[str, Any]]], skip: dict[str, set[int]] | None = None) -> Frames:
    """(time, DBC message, DBC signal values) as SocketCAN frames; alive counters advance per message,
    and the transmissions numbered in `skip` are left out as if lost."""
    sent: dict[str, int] = {}
    frames: Frames = []
    for time, name, signals in events:
        message = CODEC.message(name)
        count = sent.get(name, 0)
        sent[name] = count + 1
        if count in (skip or {}).get(name, set()):
            continue
        values = CODEC.initial_values(message)
        values.update(signals)
        counter = CODEC.counters.get(name)
        if counter:
            values[counter] = count % CODEC.counter_modulus(name)
        encoded = CODEC.encode(message, values)
        frames.append((time, socketcan_frame(encoded.arbitration_id, bytes(encoded.data))))
    return frames


def _status(t: float, state: str, campaign: int = 7) -> tuple[float, str, dict[str, Any]]:
    return t, "OtaStatus", {"OtaState": state, "StatusCampaignId": campaign}


def _action(t: float, action: str, campaign: int = 7) -> tuple[float, str, dict[str, Any]]:
    return t, "OtaOwnerAction", {"OwnerAction": action, "ActionCampaignId": campaign}


def _consent(tmp_path: Path, events: list[tuple[float, str, dict[str, Any]]], *, expected: bool = True,
             skip: dict[str, set[int]] | None = None) -> list[Finding]:
    evidence = _evidence(tmp_path, can=_can(sorted(events, key=lambda e: e[0]), skip))
    return check_consent(evidence, POLICY, installation_expected=expected)


INHIBIT = (2.0, "DriveInhibit", {"DriveInhibitRequest": 1, "DriveInhibitReason": "OtaInstallation"})


@pytest.mark.parametrize(("events", "verdict", "words"), [
    ([_status(1, "AwaitingConsent"), _action(2, "Accept"), _status(3, "Downloading"), _status(4, "Installing"),
      _status(5, "Completed")], Verdict.PASS, "campaign 7: installation began 2 s"),
    ([_status(1, "AwaitingConsent"), _status(2, "Installing"), _action(5, "Accept")], Verdict.FAIL,
     "before consent: the owner accepted 3 s"),
    ([_status(1, "AwaitingConsent"), _action(2, "Decline"), _status(3, "Installing")], Verdict.FAIL,
     "the owner never accepted"),
    ([_status(1, "AwaitingConsent"), _action(2, "Accept", campaign=8), _status(3, "Installing")], Verdict.FAIL,
     "the owner never accepted"),
    ([_status(1, "Downloaded"), INHIBIT, _action(3, "Accept")], Verdict.FAIL, "(OtaInstallation) before consent"),
], ids=["accept-then-install", "install-then-accept", "no-accept", "accept-other-campaign", "inhibit-first"])
def test_consent_order(tmp_path: Path, events: list[tuple[float, str, dict[str, Any]]], verdict: Verdict,
                       words: str) -> None:
    findings = _consent(tmp_path, events)
    assert [f.verdict for f in findings] == [verdict]
    assert words in findings[0].detail and findings[0].protocol == "can"
    assert findings[0].clause == POLICY.profile.rule("ota.consent").primary


def test_no_ota_status_frames_is_inconclusive(tmp_path: Path) -> None:
    motion = [(float(t), "VehicleMotion", {"VehicleSpeed": 30.0}) for t in range(3)]
    findings = _consent(tmp_path, motion + [_action(4.0, "Accept")])
    assert [f.verdict for f in findings] == [Verdict.INCONCLUSIVE]
    assert "no OTA status" in findings[0].detail


def test_expected_installation_that_never_happens_is_inconclusive(tmp_path: Path) -> None:
    events = [_status(1.0, "AwaitingConsent"), _action(2.0, "Accept"), _status(3.0, "Downloading")]
    findings = _consent(tmp_path, events)
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert "no installation was observed" in findings[0].detail
    assert overall(_consent(tmp_path, events, expected=False)) is Verdict.PASS


def test_counter_gap_around_a_fail_makes_it_inconclusive(tmp_path: Path) -> None:
    events = [_status(1.0, "AwaitingConsent"), _status(2.0, "Downloading"), _status(3.0, "Installing"),
              _status(4.0, "Installing"), _action(5.0, "Accept")]
    complete = _consent(tmp_path, events)
    assert overall(complete) is Verdict.FAIL
    lossy = _consent(tmp_path, events, skip={"OtaStatus": {1}})   # the Downloading frame was lost
    evidence_gaps = load_evidence(tmp_path / "capture.pcapng", CODEC).can_gaps
    assert evidence_gaps == {"OtaStatus": 1}
    assert overall(lossy) is Verdict.INCONCLUSIVE
    assert not _by(lossy, Verdict.FAIL)
    assert "frames lost" in lossy[0].detail
    # the same gap around a pass is reported as well: the order of events is not certain
    passing = [_status(1.0, "AwaitingConsent"), _action(2.0, "Accept"), _status(3.0, "Downloading"),
               _status(4.0, "Installing")]
    assert overall(_consent(tmp_path, passing, skip={"OtaStatus": {2}})) is Verdict.INCONCLUSIVE


def test_counter_gap_in_unrelated_message_does_not_matter(tmp_path: Path) -> None:
    events = [_status(1.0, "AwaitingConsent"), _status(3.0, "Installing"), _action(5.0, "Accept")]
    events += [(0.5 + t, "VehicleMotion", {"VehicleSpeed": 0.0}) for t in range(4)]
    findings = _consent(tmp_path, events, skip={"VehicleMotion": {2}})
    assert overall(findings) is Verdict.FAIL


# --- regressions of bugs found while writing these tests ---------------------------------------------


def test_drop_counters_only_for_the_can_interface_do_not_make_ethernet_complete(tmp_path: Path) -> None:
    evidence = _evidence(tmp_path, ethernet=_session(CN, 32960, REPORT), stats=None, can_stats=(5, 0))
    assert overall(check_locality(evidence, POLICY)) is Verdict.INCONCLUSIVE


def test_request_target_with_broken_ipv6_host_is_judged_not_raised(tmp_path: Path) -> None:
    head = b"GET http://[::1/x?lat=1 HTTP/1.1\r\nHost: a\r\n\r\n"
    findings = check_locality(_evidence(tmp_path, ethernet=_session(EU, 8080, head)), POLICY)
    assert overall(findings) in (Verdict.INCONCLUSIVE, Verdict.FAIL)


def test_installation_without_a_campaign_id_is_not_a_pass(tmp_path: Path) -> None:
    findings = _consent(tmp_path, [_status(1.0, "Idle", campaign=0), _status(2.0, "Installing", campaign=0)],
                        expected=False)
    assert overall(findings) is not Verdict.PASS
