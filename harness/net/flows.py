"""The flow table: IPv4/IPv6 TCP and UDP conversations from raw packets, TCP reassembled.

Headers are walked by index and struct, not dissected, so a large capture stays fast (this is the
pre-pass every capture goes through); payload decoders get each direction's byte stream with
reordering and retransmissions resolved and gaps counted."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from harness.net.pcapfile import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_IPV6,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
    Packet,
    Record,
)
from harness.net.recognition import Recognition

TCP, UDP = 6, 17
_SYN, _FIN, _RST, _ACK = 0x02, 0x01, 0x04, 0x10
_TCP_HEAD = struct.Struct("!HHIIH").unpack_from
_UDP_HEAD = struct.Struct("!HH").unpack_from
# Ethernet type, then IPv4 (without options) total length, fragment field, protocol, addresses, then TCP
_ETH_IPV4_TCP = struct.Struct("!12xHxxHxxHxB2x4s4sHHIIH").unpack_from
_IPV6_EXTENSIONS = (0, 43, 60)  # hop-by-hop, routing, destination options
SUPPORTED_LINKTYPES = (LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL,
                       LINKTYPE_LINUX_SLL2)


@dataclass(frozen=True)
class Endpoint:
    address: str
    port: int

    def __str__(self) -> str:
        return f"[{self.address}]:{self.port}" if ":" in self.address else f"{self.address}:{self.port}"


Segment = tuple[int, bytes, float]  # (sequence number, data, capture time): tuples are cheapest to make


@dataclass
class Direction:
    """One direction of a flow: its segments, then the reassembled stream."""

    segments: list[Segment] = field(default_factory=list)
    isn: int | None = None
    packets: int = 0
    first_time: float | None = None
    fin: bool = False          # FIN or RST sent
    fin_sent: bool = False     # FIN sent: it takes one sequence number
    reset: bool = False        # RST sent
    acked: int | None = None   # the last acknowledgement number the peer sent for this direction

    def stream(self) -> tuple[bytes, int]:
        """The reassembled bytes and the number of bytes missing from the middle (gaps)."""
        data, missing, _ = self.stream_with_times()
        return data, missing

    def stream_with_times(self) -> tuple[bytes, int, list[tuple[int, float]]]:
        """Like stream(), plus (offset, capture time) for every placed chunk, offsets ascending.

        Bytes the peer acknowledged beyond the last captured one count as missing too: the capture
        lost them (a segment the capturer never saw, or the tail of the capture)."""
        if not self.segments:
            return b"", self._unseen(self.isn + 1) if self.isn is not None else 0, []
        start = (self.isn + 1) if self.isn is not None else min(s[0] for s in self.segments)
        chunks: list[bytes] = []
        times: list[tuple[int, float]] = []
        cursor, missing, length = start, 0, 0
        ordered = sorted(self.segments, key=lambda s: (_unwrap(s[0], start), s[2]))
        for raw_seq, data, time in ordered:
            seq = _unwrap(raw_seq, start)
            end = seq + len(data)
            if end <= cursor:
                continue  # retransmission of bytes already placed
            if seq > cursor:
                missing += seq - cursor
                cursor = seq
            piece = data[cursor - seq:]
            times.append((length, time))
            chunks.append(piece)
            length += len(piece)
            cursor = end
        return b"".join(chunks), missing + self._unseen(cursor), times

    def _unseen(self, cursor: int) -> int:
        """Bytes acknowledged by the peer after sequence number `cursor` that the capture does not hold."""
        if self.acked is None:
            return 0
        beyond = (self.acked - cursor) & 0xFFFFFFFF
        if beyond >= 1 << 31:  # an acknowledgement behind the cursor (or far off): nothing unseen
            return 0
        return max(0, beyond - (1 if self.fin_sent else 0))


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
    # the TLS key log the capture is read with, and decoded results; neither is part of the observation
    keys: Any = field(default=None, repr=False, compare=False)
    unit_keys: Any = field(default=None, repr=False, compare=False)  # the GB/T 32960 platform's keys
    recognition: Recognition | None = field(default=None, repr=False, compare=False)
    cache: dict[Any, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def protocol_name(self) -> str:
        return "tcp" if self.protocol == TCP else "udp"

    @property
    def packets(self) -> int:
        return self.to_server.packets + self.to_client.packets

    def direction(self, from_client: bool) -> Direction:
        return self.to_server if from_client else self.to_client

    def sent_by(self, address: str) -> bool | None:
        """True when `address` is the client, False when it is the server, None when neither."""
        if self.client.address == address:
            return True
        if self.server.address == address:
            return False
        return None


@dataclass
class FlowTable:
    flows: dict[tuple[int, Endpoint, Endpoint], Flow] = field(default_factory=dict)
    packets: int = 0
    non_ip: int = 0        # frames of other protocols (ARP, LLDP, ...): nothing to judge
    malformed: int = 0     # frames that claim IP but cannot be parsed: unknown content
    fragments: int = 0     # non-first IP fragments (their payload is not reassembled)
    unsupported: dict[int, int] = field(default_factory=dict)  # link type -> frames not read
    keys: Any = None       # handed to every flow, so decoders find the TLS key log
    unit_keys: Any = None  # ... and the GB/T 32960 platform's keys for encrypted data units
    recognition: Recognition = field(default_factory=Recognition)  # the ground truth, shared likewise
    _index: dict[tuple[int, bytes, int, bytes, int], tuple[Flow, Direction]] = field(default_factory=dict, repr=False)
    _names: dict[bytes, str] = field(default_factory=dict, repr=False)

    def add(self, packet: Packet) -> None:
        self.add_frames((packet,))

    def add_frames(self, frames: Iterable[Record], other: Callable[[float, int, bytes], None] | None = None) -> None:
        """Packets (Packet or the same-shaped tuples) into flows: link layer, IP, then TCP/UDP into its
        flow. `other` gets the packets of link types this table does not read (CAN); they are not counted.

        This loop is the hot path of every analysis: Ethernet/IPv4/TCP without IP options is read with
        one unpack, everything else by `_network`; local names spare attribute lookups."""
        index, new, tcp_head, udp_head, fast_head = self._index, self._new, _TCP_HEAD, _UDP_HEAD, _ETH_IPV4_TCP
        counts = self._counts
        packets = 0
        try:
            for time, linktype, data, _wirelen, _interface in frames:
                size = len(data)
                if linktype == 1 and size >= 54 and data[14] == 0x45:
                    ethertype, total, fragment, protocol, src, dst, sport, dport, seq, ack, offset_flags = \
                        fast_head(data, 0)
                    fast = ethertype == 0x0800 and protocol == 6 and not fragment & 0x1FFF and total >= 40
                else:
                    fast = False
                if fast:
                    start, end = 34, 14 + total
                else:
                    if linktype not in SUPPORTED_LINKTYPES:
                        if other is not None:
                            other(time, linktype, data)
                        else:
                            self.unsupported[linktype] = self.unsupported.get(linktype, 0) + 1
                        continue
                    parsed = _network(linktype, data)
                    if isinstance(parsed, str):
                        counts[parsed] += 1
                        packets += 1
                        continue
                    protocol, src, dst, start, end = parsed
                    if end > size:
                        end = size
                    if protocol == 6:
                        if end - start < 20:
                            counts["malformed"] += 1
                            packets += 1
                            continue
                        sport, dport, seq, ack, offset_flags = tcp_head(data, start)
                packets += 1
                if end > size:
                    end = size  # cut by the snap length: reassembly counts what is missing
                if protocol == 6:
                    body = start + (offset_flags >> 12) * 4
                    if body - start < 20 or body > end:
                        counts["malformed"] += 1
                        continue
                    flags = offset_flags & 0x3F
                    entry = index.get((6, src, sport, dst, dport))
                    if entry is None:
                        entry = new(6, src, sport, dst, dport, time, flags & 0x12 == 0x02)
                    flow, direction = entry
                    if flags & _ACK:
                        (flow.to_client if direction is flow.to_server else flow.to_server).acked = ack
                    if flags & 0x07:
                        if flags & _SYN:
                            direction.isn = seq
                            flow.handshake_seen = True
                            seq += 1  # data on a SYN (TCP Fast Open) starts after the number the SYN takes
                        if flags & (_FIN | _RST):
                            direction.fin = True
                            direction.fin_sent = direction.fin_sent or bool(flags & _FIN)
                            direction.reset = direction.reset or bool(flags & _RST)
                    if body < end:
                        direction.segments.append((seq, data[body:end], time))
                elif protocol == 17:
                    if end - start < 8:
                        counts["malformed"] += 1
                        continue
                    sport, dport = udp_head(data, start)
                    entry = index.get((17, src, sport, dst, dport))
                    if entry is None:
                        entry = new(17, src, sport, dst, dport, time, True)
                    flow, direction = entry
                    flow.datagrams.append((time, direction is flow.to_server, data[start + 8:end]))
                else:
                    continue
                direction.packets += 1
                if direction.first_time is None:
                    direction.first_time = time
                if time > flow.last_time:
                    flow.last_time = time
        finally:
            self.packets += packets
            self.malformed, self.non_ip, self.fragments = counts["malformed"], counts["non_ip"], counts["fragments"]

    @property
    def _counts(self) -> dict[str, int]:
        return {"malformed": self.malformed, "non_ip": self.non_ip, "fragments": self.fragments}

    def _new(self, protocol: int, src: bytes, sport: int, dst: bytes, dport: int, time: float,
             initiator: bool) -> tuple[Flow, Direction]:
        source, dest = Endpoint(self._name(src), sport), Endpoint(self._name(dst), dport)
        # the initiator is the SYN (or first datagram) sender; without a handshake, the lower port is the service
        if not initiator and source.port < dest.port:
            flow = Flow(protocol, dest, source, time, keys=self.keys, unit_keys=self.unit_keys,
                        recognition=self.recognition)
            self.flows[(protocol, dest, source)] = flow
            forward = False
        else:
            flow = Flow(protocol, source, dest, time, keys=self.keys, unit_keys=self.unit_keys,
                        recognition=self.recognition)
            self.flows[(protocol, source, dest)] = flow
            forward = True
        self._index[(protocol, src, sport, dst, dport)] = (flow, flow.to_server if forward else flow.to_client)
        self._index[(protocol, dst, dport, src, sport)] = (flow, flow.to_client if forward else flow.to_server)
        return self._index[(protocol, src, sport, dst, dport)]

    def _name(self, raw: bytes) -> str:
        name = self._names.get(raw)
        if name is None:
            name = self._names[raw] = str(ipaddress.ip_address(raw))
        return name


def unanswered_attempt(flow: Flow, from_client: bool) -> str | None:
    """Why a flow the vehicle opened carried no payload because nothing took it (a SYN never answered,
    a reset, datagrams without payload or answer), or None if it was answered or carried payload."""
    if not from_client:
        return None
    sent, answer = flow.to_server, flow.to_client
    if flow.protocol == TCP:
        if sent.segments:
            return None
        if answer.isn is None:
            if answer.reset:
                return "refused: reset without a SYN-ACK"
            return f"{sent.packets} packet{'s' if sent.packets != 1 else ''} (SYN) and no answer"
        if answer.reset:
            return "the destination reset the connection before any payload"
        return None
    ours = [d for _, to_server, d in flow.datagrams if to_server]
    if any(ours) or any(not to_server for _, to_server, _ in flow.datagrams):
        return None
    return f"{len(ours)} empty datagram{'s' if len(ours) != 1 else ''} and no answer"


def _network(linktype: int, data: bytes) -> tuple[int, bytes, bytes, int, int] | str:
    """(protocol, source, destination, transport offset, end of IP payload), or what the frame is
    instead: "non_ip", "malformed" or "fragments" (a later IP fragment, which has no transport header)."""
    size = len(data)
    if linktype == LINKTYPE_ETHERNET:
        if size < 14:
            return "malformed"
        ethertype, offset = (data[12] << 8) | data[13], 14
        while ethertype in (0x8100, 0x88A8) and size >= offset + 4:  # VLAN tags
            ethertype, offset = (data[offset + 2] << 8) | data[offset + 3], offset + 4
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if not size:
            return "malformed"
        ethertype, offset = (0x86DD if data[0] >> 4 == 6 else 0x0800), 0
    elif linktype == LINKTYPE_LINUX_SLL and size >= 16:
        ethertype, offset = (data[14] << 8) | data[15], 16
    elif linktype == LINKTYPE_LINUX_SLL2 and size >= 20:
        ethertype, offset = (data[0] << 8) | data[1], 20
    else:
        return "malformed"
    if ethertype == 0x0800:
        if size < offset + 20 or data[offset] >> 4 != 4:
            return "malformed"
        header = (data[offset] & 0xF) * 4
        total = (data[offset + 2] << 8) | data[offset + 3]
        if header < 20 or total < header:
            return "malformed"
        if ((data[offset + 6] << 8) | data[offset + 7]) & 0x1FFF:
            return "fragments"
        return data[offset + 9], data[offset + 12:offset + 16], data[offset + 16:offset + 20], offset + header, \
            offset + total
    if ethertype == 0x86DD:
        if size < offset + 40 or data[offset] >> 4 != 6:
            return "malformed"
        protocol, start = data[offset + 6], offset + 40
        if protocol in _IPV6_EXTENSIONS or protocol == 44:
            walked = _ipv6_extensions(data, start, protocol)
            if walked is None:
                return "malformed"
            if walked[0] < 0:
                return "fragments"
            protocol, start = walked
        return protocol, data[offset + 8:offset + 24], data[offset + 24:offset + 40], start, \
            offset + 40 + ((data[offset + 4] << 8) | data[offset + 5])
    return "non_ip"


def _ipv6_extensions(data: bytes, cursor: int, next_header: int) -> tuple[int, int] | None:
    """(transport protocol, its offset) after IPv6 extension headers; protocol -1 for a later fragment."""
    try:
        while next_header in _IPV6_EXTENSIONS:
            next_header, cursor = data[cursor], cursor + (data[cursor + 1] + 1) * 8
        if next_header == 44:  # fragment header: only the first fragment has the transport header
            next_header, fragment = data[cursor], (data[cursor + 2] << 8) | data[cursor + 3]
            if fragment >> 3:
                return -1, cursor
            cursor += 8
    except IndexError:
        return None
    return next_header, cursor


def build_flows(packets: Iterable[Packet]) -> FlowTable:
    table = FlowTable()
    for packet in packets:
        table.add(packet)
    return table
