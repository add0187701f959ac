"""Captures the analyze tests make: scapy builds the packets, PcapngWriter (or a plain pcap) holds them.

TCP conversations keep real sequence numbers, so tests can split, reorder, repeat or drop segments."""

from __future__ import annotations

import random
import struct
from pathlib import Path

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw

from harness.net.pcapfile import LINKTYPE_ETHERNET, RIG_CAPTURE, PcapngWriter

VEHICLE, VEHICLE6 = "198.51.100.2", "2001:db8::2"
CN_PLATFORM, CN_BROKER, EU_HOST, EU_EXPORT = "203.0.113.20", "203.0.113.10", "203.0.113.140", "203.0.113.200"
UNMAPPED = "203.0.113.220"  # no address mapping: its region comes from names, else it is unknown
CN_PLATFORM6, EU_HOST6 = "2001:db8:86::20", "2001:db8:49::140"
VIN = "LHVTEST0000000001"

NETMAP = f"""\
[vehicle]
addresses = ["{VEHICLE}", "{VEHICLE6}"]

[[endpoint]]
cidr = "203.0.113.0/25"
region = "CN"
[[endpoint]]
cidr = "2001:db8:86::/48"
region = "CN"
[[endpoint]]
cidr = "203.0.113.128/26"
region = "EU"
[[endpoint]]
cidr = "2001:db8:49::/48"
region = "EU"
[[endpoint]]
domain = "tsp.example.cn"
region = "CN"
[[endpoint]]
domain = "analytics.example.eu"
region = "EU"

[[approved_export]]
destination = "{EU_EXPORT}"
categories = ["vehicle_state", "vin"]
appraisal = "CAC-EXPORT-2026-0042"

[[purpose]]
destination = "{CN_PLATFORM}"
name = "national-platform-reporting"
categories = ["vin", "vehicle_state", "location", "diagnostics"]
[[purpose]]
destination = "{CN_PLATFORM6}"
name = "national-platform-reporting"
categories = ["vin", "vehicle_state", "location", "diagnostics"]
[[purpose]]
destination = "{CN_BROKER}"
name = "telematics"
categories = ["vin", "vehicle_state", "location"]
[[purpose]]
destination = "tsp.example.cn"
name = "telematics"
categories = ["vin", "vehicle_state", "location"]
"""


def ip_layer(src: str, dst: str) -> Packet:
    return IPv6(src=src, dst=dst) if ":" in src else IP(src=src, dst=dst)


class CaptureBuilder:
    """Ethernet packets on one timeline, written as pcapng (optionally as the rig writes it) or pcap."""

    def __init__(self, start: float = 1_772_000_000.0) -> None:
        self.packets: list[tuple[float, bytes]] = []
        self.time = start

    def add(self, packet: Packet | bytes, step: float = 0.001) -> None:
        self.packets.append((self.time, bytes(packet)))
        self.time += step

    def frame(self, layer: Packet) -> bytes:
        return bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / layer)

    def udp(self, src: tuple[str, int], dst: tuple[str, int], payload: bytes | Packet) -> None:
        self.add(self.frame(ip_layer(src[0], dst[0]) / UDP(sport=src[1], dport=dst[1]) / payload))

    def dns_answer(self, name: str, address: str, via: str | None = None, resolver: str = CN_BROKER) -> None:
        """A query from the vehicle and its answer: name (CNAME via, if given) -> address."""
        port = random.randint(20000, 60000)
        query = DNS(id=7, rd=1, qd=DNSQR(qname=name))
        self.udp((VEHICLE, port), (resolver, 53), query)
        kind = "AAAA" if ":" in address else "A"
        answers = [DNSRR(rrname=name, type="CNAME", rdata=via), DNSRR(rrname=via, type=kind, rdata=address)] if via \
            else [DNSRR(rrname=name, type=kind, rdata=address)]
        self.udp((resolver, 53), (VEHICLE, port), DNS(id=7, qr=1, rd=1, ra=1, qd=DNSQR(qname=name), an=answers))

    def tcp(self, client: tuple[str, int], server: tuple[str, int], handshake: bool = True) -> Conversation:
        return Conversation(self, client, server, handshake)

    def write(self, path: Path, stats: tuple[int, int] | None = None, rig: bool = False) -> Path:
        with path.open("wb") as handle:
            writer = PcapngWriter(handle, application=RIG_CAPTURE if rig else None)
            eth = writer.interface(LINKTYPE_ETHERNET, "uplink")
            for time, data in self.packets:
                writer.packet(eth, time, data)
            if stats is not None:
                writer.statistics(eth, self.time, *stats)
        return path

    def write_pcap(self, path: Path, linktype: int = LINKTYPE_ETHERNET) -> Path:
        """A classic pcap, as tcpdump and most third-party tools write it (no drop counters)."""
        with path.open("wb") as handle:
            handle.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
            for time, data in self.packets:
                seconds = int(time)
                handle.write(struct.pack("<IIII", seconds, round((time - seconds) * 1e6), len(data), len(data)) + data)
        return path


class Conversation:
    """One TCP connection: `segments` builds packets without adding them, `send` adds them in order."""

    def __init__(self, capture: CaptureBuilder, client: tuple[str, int], server: tuple[str, int],
                 handshake: bool) -> None:
        self.capture, self.client, self.server = capture, client, server
        self.seq = {True: 1000, False: 5000}
        if handshake:
            self.capture.add(self._packet(True, b"", "S"))
            self.seq[True] += 1
            self.capture.add(self._packet(False, b"", "SA"))
            self.seq[False] += 1
            self.capture.add(self._packet(True, b"", "A"))

    def _packet(self, from_client: bool, data: bytes, flags: str = "PA", seq: int | None = None) -> bytes:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        layer = ip_layer(src[0], dst[0]) / TCP(sport=src[1], dport=dst[1], flags=flags,
                                                seq=self.seq[from_client] if seq is None else seq,
                                                ack=self.seq[not from_client])
        return self.capture.frame(layer / Raw(data) if data else layer)

    def segments(self, from_client: bool, data: bytes, size: int = 1400) -> list[bytes]:
        """Data split into segments at `size`; the sequence number advances as if they were sent."""
        out = []
        for offset in range(0, len(data), size):
            out.append(self._packet(from_client, data[offset:offset + size], seq=self.seq[from_client] + offset))
        self.seq[from_client] += len(data)
        return out

    def send(self, from_client: bool, data: bytes, size: int = 1400) -> None:
        for packet in self.segments(from_client, data, size):
            self.capture.add(packet)

    def close(self) -> None:
        self.capture.add(self._packet(True, b"", "FA"))
        self.seq[True] += 1
        self.capture.add(self._packet(False, b"", "FA"))


def mqtt_connect(client_id: str = "tcu-1", level: int = 4) -> bytes:
    ident = client_id.encode()
    body = b"\x00\x04MQTT" + bytes([level, 0x02]) + b"\x00\x3c" + (b"\x00" if level == 5 else b"") \
        + struct.pack("!H", len(ident)) + ident
    return b"\x10" + varint(len(body)) + body


def mqtt_publish(topic: str, payload: bytes, qos: int = 0, level: int = 4, properties: bytes = b"",
                 packet_id: int = 1) -> bytes:
    raw_topic = topic.encode()
    body = struct.pack("!H", len(raw_topic)) + raw_topic + (struct.pack("!H", packet_id) if qos else b"")
    if level == 5:
        body += varint(len(properties)) + properties
    body += payload
    return bytes([0x30 | (qos << 1)]) + varint(len(body)) + body


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        value, digit = value >> 7, value & 0x7F
        out.append(digit | (0x80 if value else 0))
        if not value:
            return bytes(out)


def client_hello(sni: str, random_bytes: bytes = b"\x11" * 32) -> bytes:
    """A TLS ClientHello record with a server_name extension."""
    name = sni.encode()
    server_name = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    extensions = struct.pack("!HH", 0, len(server_name)) + server_name
    body = b"\x03\x03" + random_bytes + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" \
        + struct.pack("!H", len(extensions)) + extensions
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def tls_record(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + b"\x03\x03" + struct.pack("!H", len(body)) + body
