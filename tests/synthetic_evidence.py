"""Small synthetic evidence for unit tests of the checks: TCP conversations built with scapy, CAN
records with a vehicle clock, and a netmap, without a rig or a capture file."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from harness.net.evidence import CanRecord, Evidence
from harness.net.flows import FlowTable
from harness.net.keylog import KeyLog
from harness.net.pcapfile import LINKTYPE_ETHERNET, RIG_CAPTURE, CaptureInfo, Packet
from harness.policy.netmap import Netmap, parse_netmap
from harness.policy.policy import Policy
from harness.policy.profile import load_profile

VEHICLE = "198.51.100.2"
SCALE = 100.0  # vehicle seconds per wall second, as on the virtual rig
T0 = 1_800_000_000.0
VEHICLE_T0 = 1_900_000_000.0

NETMAP: dict[str, Any] = {
    "vehicle": {"addresses": [VEHICLE]},
    "endpoint": [{"cidr": "203.0.113.0/25", "region": "CN"}, {"cidr": "203.0.113.128/25", "region": "EU"}],
    "approved_export": [{"destination": "203.0.113.200", "categories": ["vin", "vehicle_state"],
                         "appraisal": "CAC-EXPORT-2026-0042"},
                        {"destination": "203.0.113.220", "categories": ["exterior_imagery", "location"],
                         "appraisal": "CAC-EXPORT-2026-0107"}],
    "purpose": [
        {"destination": "203.0.113.10", "name": "telematics", "location_precision_m": 10,
         "categories": ["vin", "vehicle_state", "location"]},
        {"destination": "203.0.113.20", "name": "national-platform-reporting", "protocol": "gbt32960",
         "legal_obligation": True, "categories": ["vin", "vehicle_state", "location", "diagnostics"]},
        {"destination": "203.0.113.50", "name": "map-crowdsourcing", "location_precision_m": 100,
         "categories": ["exterior_imagery", "location"]},
        {"destination": "203.0.113.60", "name": "cabin-monitoring", "categories": ["cabin_imagery", "biometric"]},
    ],
    "consent": [{"signal": "consent.location", "categories": ["location"]},
                {"signal": "consent.cabin_camera", "categories": ["cabin_imagery", "biometric"]}],
}


def netmap(**changes: Any) -> Netmap:
    return parse_netmap({**NETMAP, **changes}, "synthetic netmap")


def policy(profile: str = "cn", **changes: Any) -> Policy:
    return Policy(load_profile(profile), netmap(**changes))


def wall(vehicle_seconds: float) -> float:
    """The capture timestamp `vehicle_seconds` of vehicle time after the start."""
    return T0 + vehicle_seconds / SCALE


class Conversation:
    """One TCP connection from the vehicle: handshake, then each send() as one segment."""

    def __init__(self, dst: str, dport: int, sport: int = 40000, start: float = 0.0, src: str = VEHICLE) -> None:
        self.src, self.dst, self.sport, self.dport = src, dst, sport, dport
        self.seq = 1000
        self.packets: list[Packet] = []
        self._frame(start, "S", b"")
        self.seq += 1

    def _frame(self, vehicle_seconds: float, flags: str, data: bytes) -> None:
        layer = Ether() / IP(src=self.src, dst=self.dst) / TCP(sport=self.sport, dport=self.dport, flags=flags,
                                                               seq=self.seq)
        raw = bytes(layer / Raw(data)) if data else bytes(layer)
        self.packets.append(Packet(wall(vehicle_seconds), LINKTYPE_ETHERNET, raw, len(raw)))

    def send(self, at: float, data: bytes) -> Conversation:
        self._frame(at, "PA", data)
        self.seq += len(data)
        return self


def http_post(body: dict[str, Any] | bytes, path: str = "/upload", host: str = "example.cn") -> bytes:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(raw)}\r\n\r\n").encode() + raw


def mqtt_connect(client_id: str = "tbox") -> bytes:
    body = b"\x00\x04MQTT\x04\x02\x00\x1e" + len(client_id).to_bytes(2, "big") + client_id.encode()
    return bytes([0x10, len(body)]) + body


def mqtt_publish(payload: dict[str, Any], topic: str = "vehicles/telemetry") -> bytes:
    data = json.dumps(payload).encode()
    body = len(topic).to_bytes(2, "big") + topic.encode() + data
    assert len(body) < 128
    return bytes([0x30, len(body)]) + body


def can_clock(until_s: float, step_s: float = 2.0) -> list[CanRecord]:
    """GlobalTimeSync frames every `step_s` vehicle seconds."""
    records, t = [], 0.0
    while t <= until_s:
        records.append(CanRecord(wall(t), "GlobalTimeSync", 0x0F0, {"time.vehicle_ms": int((VEHICLE_T0 + t) * 1000)}))
        t += step_s
    return records


def switches(changes: Sequence[tuple[float, str, str]], until_s: float, step_s: float = 10.0) -> list[CanRecord]:
    """PrivacySettings frames every `step_s` vehicle seconds, holding the states `changes` set:
    (vehicle seconds, signal, "On"/"Off"); every switch starts Off."""
    state = {"consent.location": "Off", "consent.cabin_camera": "Off", "consent.voice": "Off"}
    pending = sorted(changes)
    records, t = [], 0.0
    while t <= until_s:
        while pending and pending[0][0] <= t:
            _, signal, value = pending.pop(0)
            state[signal] = value
        records.append(CanRecord(wall(t), "PrivacySettings", 0x3A0, dict(state)))
        t += step_s
    return records


def evidence(conversations: Iterable[Conversation], can: Iterable[CanRecord] = (), *, dropped: int = 0,
             reported: bool = True, can_gaps: dict[str, int] | None = None, keys: KeyLog | None = None) -> Evidence:
    table = FlowTable(keys=keys)
    packets = sorted((p for c in conversations for p in c.packets), key=lambda p: p.time)
    for packet in packets:
        table.add(packet)
    # written as the rig writes captures: its drop counters are expected
    info = CaptureInfo(received=len(packets), dropped=dropped, drop_reported=reported, application=RIG_CAPTURE)
    records = sorted(can, key=lambda r: r.time)
    return Evidence(Path("synthetic.pcapng"), table, records, info, len(records), dict(can_gaps or {}))


def verdicts(findings: Iterable[Any]) -> list[str]:
    return [f.verdict.value for f in findings]
