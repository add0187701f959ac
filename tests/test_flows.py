"""The flow table: TCP reassembly (split, reordered, retransmitted, missing), orientation, IPv6,
UDP, VLAN tags, and malformed frames that are counted and never raise."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrHopByHop
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import Packet as ScapyPacket

from harness.net.flows import SUPPORTED_LINKTYPES, Endpoint, Flow, FlowTable, build_flows
from harness.net.flows import TCP as TCP_PROTO
from harness.net.flows import UDP as UDP_PROTO
from harness.net.pcapfile import LINKTYPE_CAN_SOCKETCAN, LINKTYPE_ETHERNET, LINKTYPE_RAW, Packet

MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
CAR, CLOUD = "198.51.100.2", "203.0.113.20"
MESSAGE = b"0123456789abcdefghijklmnopqrstuvwxyz"


def _frame(layer: ScapyPacket, time: float = 0.0) -> Packet:
    data = bytes(Ether(**MAC) / layer)
    return Packet(time, LINKTYPE_ETHERNET, data, len(data))


def _tcp(flags: str, seq: int, data: bytes = b"", *, src: str = CAR, dst: str = CLOUD, sport: int = 40000,
         dport: int = 443, ack: int = 0) -> ScapyPacket:
    segment = IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=seq & 0xFFFFFFFF,
                                                        ack=ack & 0xFFFFFFFF)
    return segment / data if data else segment


def _handshake(isn: int = 1000, server_isn: int = 7000) -> list[ScapyPacket]:
    return [_tcp("S", isn), _tcp("SA", server_isn, src=CLOUD, dst=CAR, sport=443, dport=40000, ack=isn + 1),
            _tcp("A", isn + 1, ack=server_isn + 1)]


def _only_flow(table: FlowTable) -> Flow:
    assert len(table.flows) == 1
    return next(iter(table.flows.values()))


def _stream_of(pieces: list[tuple[int, bytes]], isn: int = 1000) -> tuple[Flow, bytes, int]:
    """A handshake, then `pieces` as (offset in MESSAGE-space, data) segments in the given order."""
    layers = _handshake(isn) + [_tcp("PA", isn + 1 + offset, data) for offset, data in pieces]
    table = build_flows(_frame(layer, float(i)) for i, layer in enumerate(layers))
    flow = _only_flow(table)
    data, missing = flow.to_server.stream()
    return flow, data, missing


def _pieces(*bounds: tuple[int, int]) -> list[tuple[int, bytes]]:
    return [(a, MESSAGE[a:b]) for a, b in bounds]


def test_split_segments_reassemble_in_order() -> None:
    flow, data, missing = _stream_of(_pieces((0, 10), (10, 20), (20, 36)))
    assert data == MESSAGE and missing == 0
    assert flow.handshake_seen and flow.protocol == TCP_PROTO and flow.protocol_name == "tcp"
    assert flow.to_server.isn == 1000 and flow.to_client.isn == 7000


def test_reordered_segments_reassemble() -> None:
    _, data, missing = _stream_of(_pieces((20, 36), (0, 10), (10, 20)))
    assert data == MESSAGE and missing == 0


def test_retransmitted_and_overlapping_segments_are_placed_once() -> None:
    _, data, missing = _stream_of(_pieces((0, 12), (5, 20), (0, 12), (10, 20), (18, 36), (30, 36)))
    assert data == MESSAGE and missing == 0


def test_missing_segment_is_counted_as_a_gap() -> None:
    _, data, missing = _stream_of(_pieces((0, 10), (20, 36)))
    assert data == MESSAGE[:10] + MESSAGE[20:]
    assert missing == 10


def test_missing_first_segment_after_handshake_is_a_gap() -> None:
    _, data, missing = _stream_of(_pieces((4, 36)))
    assert data == MESSAGE[4:] and missing == 4


def test_times_follow_the_chunks_placed() -> None:
    layers = _handshake() + [_tcp("PA", 1011, MESSAGE[10:]), _tcp("PA", 1001, MESSAGE[:10])]
    flow = _only_flow(build_flows(_frame(layer, 10.0 + i) for i, layer in enumerate(layers)))
    data, missing, times = flow.to_server.stream_with_times()
    assert data == MESSAGE and missing == 0
    assert times == [(0, 14.0), (10, 13.0)]
    assert flow.first_time == 10.0 and flow.last_time == 14.0


def test_sequence_numbers_wrapping_at_2_32() -> None:
    isn = 0xFFFFFFF0
    _, data, missing = _stream_of(_pieces((0, 20), (20, 36)), isn=isn)
    assert data == MESSAGE and missing == 0


def test_server_reply_goes_to_the_client_direction() -> None:
    layers = _handshake() + [_tcp("PA", 1001, b"GET / HTTP/1.1\r\n\r\n"),
                             _tcp("PA", 7001, b"HTTP/1.1 200 OK\r\n\r\n", src=CLOUD, dst=CAR, sport=443, dport=40000)]
    flow = _only_flow(build_flows(_frame(layer) for layer in layers))
    assert flow.to_server.stream() == (b"GET / HTTP/1.1\r\n\r\n", 0)
    assert flow.to_client.stream() == (b"HTTP/1.1 200 OK\r\n\r\n", 0)
    assert flow.to_server.packets == 3 and flow.to_client.packets == 2 and flow.packets == 5


def test_fin_marks_the_direction_closed() -> None:
    layers = _handshake() + [_tcp("FA", 1001)]
    flow = _only_flow(build_flows(_frame(layer) for layer in layers))
    assert flow.to_server.fin is True and flow.to_client.fin is False


def test_syn_decides_orientation_even_against_the_port_heuristic() -> None:
    # the initiator's port (80) is lower than the listener's (8080): the SYN still decides
    layers = [_tcp("S", 1, sport=80, dport=8080), _tcp("SA", 9, src=CLOUD, dst=CAR, sport=8080, dport=80, ack=2),
              _tcp("PA", 2, b"hello", sport=80, dport=8080)]
    flow = _only_flow(build_flows(_frame(layer) for layer in layers))
    assert flow.client == Endpoint(CAR, 80) and flow.server == Endpoint(CLOUD, 8080)
    assert flow.to_server.stream() == (b"hello", 0)


def test_flow_without_handshake_takes_the_lower_port_as_the_service() -> None:
    # first packet seen is the server's answer; no SYN anywhere
    layers = [_tcp("PA", 5000, b"pong", src=CLOUD, dst=CAR, sport=443, dport=40000),
              _tcp("PA", 300, b"ping", sport=40000, dport=443)]
    flow = _only_flow(build_flows(_frame(layer) for layer in layers))
    assert flow.handshake_seen is False
    assert flow.client == Endpoint(CAR, 40000) and flow.server == Endpoint(CLOUD, 443)
    assert flow.to_server.isn is None
    assert flow.to_server.stream() == (b"ping", 0)
    assert flow.to_client.stream() == (b"pong", 0)


def test_flow_without_handshake_reassembles_from_the_lowest_sequence_number() -> None:
    layers = [_tcp("PA", 510, MESSAGE[10:]), _tcp("PA", 500, MESSAGE[:10])]
    flow = _only_flow(build_flows(_frame(layer) for layer in layers))
    assert flow.to_server.stream() == (MESSAGE, 0)


def test_ipv6_flow() -> None:
    a, b = "2001:db8::2", "2001:db8:1::20"
    layers = [IPv6(src=a, dst=b) / TCP(sport=40000, dport=443, flags="S", seq=10),
              IPv6(src=b, dst=a) / TCP(sport=443, dport=40000, flags="SA", seq=90, ack=11),
              IPv6(src=a, dst=b) / TCP(sport=40000, dport=443, flags="PA", seq=11) / b"over v6",
              IPv6(src=a, dst=b) / IPv6ExtHdrHopByHop() / TCP(sport=40000, dport=443, flags="PA", seq=18) / b"!"]
    table = build_flows(_frame(layer) for layer in layers)
    flow = _only_flow(table)
    assert flow.client == Endpoint(a, 40000) and flow.server == Endpoint(b, 443)
    assert str(flow.client) == "[2001:db8::2]:40000"
    assert flow.to_server.stream() == (b"over v6!", 0)
    assert table.malformed == 0


def test_ipv6_address_is_normalised() -> None:
    table = build_flows([_frame(IPv6(src="2001:0db8:0000::0002", dst="2001:db8::20") / UDP(sport=5, dport=6) / b"x")])
    assert _only_flow(table).client.address == "2001:db8::2"


def test_udp_flow_keeps_datagrams_and_directions() -> None:
    layers = [IP(src=CAR, dst=CLOUD) / UDP(sport=5353, dport=53) / b"query",
              IP(src=CLOUD, dst=CAR) / UDP(sport=53, dport=5353) / b"answer",
              IP(src=CAR, dst=CLOUD) / UDP(sport=5353, dport=53) / b"again"]
    table = build_flows(_frame(layer, float(i)) for i, layer in enumerate(layers))
    flow = _only_flow(table)
    assert flow.protocol == UDP_PROTO and flow.protocol_name == "udp"
    assert flow.client == Endpoint(CAR, 5353) and flow.server == Endpoint(CLOUD, 53)
    assert [(t, up, bytes(d)) for t, up, d in flow.datagrams] == [
        (0.0, True, b"query"), (1.0, False, b"answer"), (2.0, True, b"again")]
    assert flow.to_server.packets == 2 and flow.to_client.packets == 1


def test_udp_first_sender_is_the_client_whatever_the_ports() -> None:
    table = build_flows([_frame(IP(src=CAR, dst=CLOUD) / UDP(sport=53, dport=40000) / b"x")])
    assert _only_flow(table).client == Endpoint(CAR, 53)


def test_raw_ip_link_type() -> None:
    data = bytes(IP(src=CAR, dst=CLOUD) / UDP(sport=1, dport=2) / b"raw")
    table = build_flows([Packet(0.0, LINKTYPE_RAW, data, len(data))])
    assert bytes(_only_flow(table).datagrams[0][2]) == b"raw"


def test_vlan_tagged_and_double_tagged_ethernet() -> None:
    single = Ether(**MAC) / Dot1Q(vlan=100) / IP(src=CAR, dst=CLOUD) / UDP(sport=1000, dport=2000) / b"one"
    double = (Ether(**MAC) / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IP(src=CAR, dst=CLOUD)
              / UDP(sport=1000, dport=2000) / b"two")
    table = build_flows(Packet(0.0, LINKTYPE_ETHERNET, bytes(f), len(bytes(f))) for f in (single, double))
    flow = _only_flow(table)
    assert [bytes(d) for _, _, d in flow.datagrams] == [b"one", b"two"]
    assert table.non_ip == 0 and table.malformed == 0


def test_non_ip_and_unsupported_frames_are_counted() -> None:
    arp = bytes(Ether(**MAC) / ARP())
    table = FlowTable()
    table.add(Packet(0.0, LINKTYPE_ETHERNET, arp, len(arp)))
    table.add(Packet(0.0, LINKTYPE_CAN_SOCKETCAN, b"\x00" * 16, 16))
    assert table.non_ip == 1
    assert table.unsupported == {LINKTYPE_CAN_SOCKETCAN: 1}  # CAN is for the codec, not the flow table
    assert not table.flows


def test_ip_trailer_beyond_total_length_is_not_payload() -> None:
    data = bytes(Ether(**MAC) / IP(src=CAR, dst=CLOUD) / UDP(sport=1, dport=2) / b"abc") + b"\x00" * 6  # padding
    table = build_flows([Packet(0.0, LINKTYPE_ETHERNET, data, len(data))])
    assert bytes(_only_flow(table).datagrams[0][2]) == b"abc"


def _every_cut(frame: bytes, start: int, stop: int) -> FlowTable:
    table = FlowTable()
    for cut in range(start, stop):
        table.add(Packet(0.0, LINKTYPE_ETHERNET, frame[:cut], cut))
    return table


def test_truncated_ipv4_tcp_headers_are_malformed() -> None:
    frame = bytes(Ether(**MAC) / _tcp("S", 1))
    table = _every_cut(frame, 0, len(frame))  # every prefix short of the whole TCP header
    assert table.packets == len(frame)
    assert table.malformed == len(frame) and not table.flows


def test_truncated_ipv6_with_extension_header_is_malformed() -> None:
    frame = bytes(Ether(**MAC) / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop()
                  / TCP(sport=1, dport=2))
    table = _every_cut(frame, 14, len(frame))
    assert table.malformed == len(frame) - 14 and not table.flows


def test_truncated_udp_header_is_malformed() -> None:
    frame = bytes(Ether(**MAC) / IP(src=CAR, dst=CLOUD) / UDP(sport=1, dport=2))
    table = _every_cut(frame, 14, len(frame))
    assert table.malformed == len(frame) - 14 and not table.flows


def test_bad_header_lengths_are_malformed() -> None:
    bad_ihl = bytearray(bytes(Ether(**MAC) / IP(src=CAR, dst=CLOUD) / UDP(sport=1, dport=2)))
    bad_ihl[14] = 0x44  # IHL 4 words: shorter than the fixed header
    bad_offset = bytearray(bytes(Ether(**MAC) / _tcp("S", 1)))
    bad_offset[14 + 20 + 12] = 0x30  # TCP data offset 3 words
    table = build_flows(Packet(0.0, LINKTYPE_ETHERNET, bytes(f), len(f)) for f in (bad_ihl, bad_offset))
    assert table.malformed == 2 and not table.flows


def test_later_fragments_are_counted_not_parsed() -> None:
    fragment = IP(src=CAR, dst=CLOUD, proto=17, frag=10) / (b"\x00" * 16)
    table = build_flows([_frame(fragment)])
    assert table.fragments == 1 and not table.flows


@settings(max_examples=200, deadline=None)
@given(linktype=st.sampled_from(SUPPORTED_LINKTYPES), data=st.binary(max_size=120))
def test_arbitrary_bytes_never_raise(linktype: int, data: bytes) -> None:
    table = FlowTable()
    table.add(Packet(0.0, linktype, data, len(data)))
    assert table.packets == 1


@settings(max_examples=200, deadline=None)
@given(tail=st.binary(max_size=80), v6=st.booleans())
def test_ip_header_followed_by_garbage_never_raises(tail: bytes, v6: bool) -> None:
    head = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2", nh=0, plen=len(tail))) if v6 else \
        bytes(IP(src=CAR, dst=CLOUD, proto=6, len=20 + len(tail)))[:20]
    table = FlowTable()
    data = bytes(Ether(**MAC, type=0x86DD if v6 else 0x0800)) + head + tail
    table.add(Packet(0.0, LINKTYPE_ETHERNET, data, len(data)))
    assert table.packets == 1
    assert table.malformed + len(table.flows) + table.fragments <= 1
