"""The flow table: IPv4/IPv6 TCP and UDP conversations from raw packets, TCP reassembled.

Headers are walked with struct, not dissected, so a large capture stays fast; payload decoders
get each direction's byte stream with reordering and retransmissions resolved and gaps counted."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.net.pcapfile import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    Packet,
)

TCP, UDP = 6, 17
_SYN, _FIN, _RST = 0x02, 0x01, 0x04


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int

    def __str__(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


@dataclass
class Segment:
    seq: int
    data: bytes
    time: float


@dataclass
class Direction:
    """One direction of a flow: its segments, then the reassembled stream."""

    segments: list[Segment] = field(default_factory=list)
    isn: int | None = None
    packets: int = 0
    first_time: float | None = None
    fin: bool = False

    def stream(self) -> tuple[bytes, int]:
        """The reassembled bytes and the number of bytes missing from the middle (gaps)."""
        data, missing, _ = self.stream_with_times()
        return data, missing

    def stream_with_times(self) -> tuple[bytes, int, list[tuple[int, float]]]:
        """Like stream(), plus (offset, capture time) for every placed chunk, offsets ascending."""
        if not self.segments:
            return b"", 0, []
        start = (self.isn + 1) if self.isn is not None else min(s.seq for s in self.segments)
        chunks: list[bytes] = []
        times: list[tuple[int, float]] = []
        cursor, missing, length = start, 0, 0
        for segment in sorted(self.segments, key=lambda s: _unwrap(s.seq, start)):
            seq = _unwrap(segment.seq, start)
            end = seq + len(segment.data)
            if end <= cursor:
                continue  # retransmission of bytes already placed
            if seq > cursor:
                missing += seq - cursor
                cursor = seq
            piece = segment.data[cursor - seq:]
            times.append((length, segment.time))
            chunks.append(piece)
            length += len(piece)
            cursor = end
        return b"".join(chunks), missing, times


def _unwrap(seq: int, start: int) -> int:
    # sequence numbers wrap at 2**32; place each relative to the stream start
    return start + ((seq - start) & 0xFFFFFFFF)


@dataclass
class Flow:
    protocol: int
    client: Endpoint
    server: Endpoint
    first_time: float
    last_time: float = 0.0
    handshake_seen: bool = False
    to_server: Direction = field(default_factory=Direction)
    to_client: Direction = field(default_factory=Direction)
    datagrams: list[tuple[float, bool, bytes]] = field(default_factory=list)  # UDP: (time, to_server, data)

    @property
    def protocol_name(self) -> str:
        return "tcp" if self.protocol == TCP else "udp"

    @property
    def packets(self) -> int:
        return self.to_server.packets + self.to_client.packets


@dataclass
class FlowTable:
    flows: dict[tuple[int, Endpoint, Endpoint], Flow] = field(default_factory=dict)
    packets: int = 0
    non_ip: int = 0
    malformed: int = 0

    def add(self, packet: Packet) -> None:
        self.packets += 1
        parsed = _network(packet)
        if parsed is None:
            self.non_ip += 1
            return
        try:
            self._add_transport(packet.time, *parsed)
        except struct.error:
            self.malformed += 1

    def _add_transport(self, time: float, src: str, dst: str, protocol: int, payload: bytes) -> None:
        if protocol == TCP:
            sport, dport, seq, _ack, offset_flags = struct.unpack_from("!HHIIH", payload, 0)
            header = (offset_flags >> 12) * 4
            flags = offset_flags & 0x3F
            data = payload[header:]
            source, dest = Endpoint(src, sport), Endpoint(dst, dport)
            flow, to_server = self._flow(TCP, source, dest, time, syn_only=bool(flags & _SYN) and not flags & 0x10)
            direction = flow.to_server if to_server else flow.to_client
            if flags & _SYN:
                direction.isn = seq
                flow.handshake_seen = True
            if data:
                direction.segments.append(Segment(seq, bytes(data), time))
            if flags & (_FIN | _RST):
                direction.fin = True
        elif protocol == UDP:
            sport, dport = struct.unpack_from("!HH", payload, 0)
            source, dest = Endpoint(src, sport), Endpoint(dst, dport)
            flow, to_server = self._flow(UDP, source, dest, time, syn_only=False)
            direction = flow.to_server if to_server else flow.to_client
            flow.datagrams.append((time, to_server, bytes(payload[8:])))
        else:
            return
        direction.packets += 1
        if direction.first_time is None:
            direction.first_time = time
        flow.last_time = max(flow.last_time, time)

    def _flow(self, protocol: int, source: Endpoint, dest: Endpoint, time: float, syn_only: bool) -> tuple[Flow, bool]:
        forward = (protocol, source, dest)
        if forward in self.flows:
            return self.flows[forward], True
        backward = (protocol, dest, source)
        if backward in self.flows:
            return self.flows[backward], False
        # the initiator is the SYN sender; without a handshake, assume the lower port is the service
        if not syn_only and protocol == TCP and source.port < dest.port:
            flow = Flow(protocol, dest, source, time)
            self.flows[backward] = flow
            return flow, False
        flow = Flow(protocol, source, dest, time)
        self.flows[forward] = flow
        return flow, True


def build_flows(packets: Iterable[Packet]) -> FlowTable:
    table = FlowTable()
    for packet in packets:
        table.add(packet)
    return table


def _network(packet: Packet) -> tuple[str, str, int, bytes] | None:
    data = packet.data
    if packet.linktype == LINKTYPE_ETHERNET:
        if len(data) < 14:
            return None
        ethertype, offset = struct.unpack_from("!H", data, 12)[0], 14
        while ethertype in (0x8100, 0x88A8) and len(data) >= offset + 4:  # VLAN tags
            ethertype, offset = struct.unpack_from("!H", data, offset + 2)[0], offset + 4
    elif packet.linktype == LINKTYPE_LINUX_SLL and len(data) >= 16:
        ethertype, offset = struct.unpack_from("!H", data, 14)[0], 16
    elif packet.linktype == LINKTYPE_LINUX_SLL2 and len(data) >= 20:
        ethertype, offset = struct.unpack_from("!H", data, 0)[0], 20
    elif packet.linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6) and data:
        ethertype, offset = (0x86DD if data[0] >> 4 == 6 else 0x0800), 0
    else:
        return None
    try:
        if ethertype == 0x0800:
            return _ipv4(data, offset)
        if ethertype == 0x86DD:
            return _ipv6(data, offset)
    except (struct.error, ValueError):
        return None
    return None


def _ipv4(data: bytes, offset: int) -> tuple[str, str, int, bytes] | None:
    version_ihl, _, total, _, fragment, _, protocol = struct.unpack_from("!BBHHHBB", data, offset)
    if version_ihl >> 4 != 4 or fragment & 0x1FFF:
        return None  # later fragments carry no transport header
    header = (version_ihl & 0xF) * 4
    src = str(ipaddress.IPv4Address(data[offset + 12:offset + 16]))
    dst = str(ipaddress.IPv4Address(data[offset + 16:offset + 20]))
    end = offset + total if total >= header else len(data)
    return src, dst, protocol, data[offset + header:end]


def _ipv6(data: bytes, offset: int) -> tuple[str, str, int, bytes] | None:
    length, next_header = struct.unpack_from("!HB", data, offset + 4)
    src = str(ipaddress.IPv6Address(data[offset + 8:offset + 24]))
    dst = str(ipaddress.IPv6Address(data[offset + 24:offset + 40]))
    cursor, end = offset + 40, offset + 40 + length
    while next_header in (0, 43, 60):  # hop-by-hop, routing, destination options
        next_header, ext_len = data[cursor], data[cursor + 1]
        cursor += (ext_len + 1) * 8
    if next_header == 44:  # fragment header: only the first fragment has the transport header
        next_header, frag = data[cursor], struct.unpack_from("!H", data, cursor + 2)[0]
        if frag >> 3:
            return None
        cursor += 8
    return src, dst, next_header, data[cursor:end]
