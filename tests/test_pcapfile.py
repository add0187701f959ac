"""The capture reader and writer: pcapng with several interfaces and drop statistics, classic pcap in
both byte orders and timestamp resolutions, truncation, unreadable files and the CAN/Ethernet merge."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from harness.net.pcapfile import (
    LINKTYPE_CAN_SOCKETCAN,
    LINKTYPE_ETHERNET,
    CaptureFormatError,
    Packet,
    PcapngWriter,
    merge,
    parse_socketcan,
    read_capture,
    socketcan_frame,
)

MAC = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")


def _eth(payload: bytes = b"hello", sport: int = 40000) -> bytes:
    return bytes(Ether(**MAC) / IP(src="198.51.100.2", dst="203.0.113.20") / UDP(sport=sport, dport=9) / payload)


def _write_pcapng(path: Path, packets: list[tuple[str, float, bytes]], stats: list[tuple[str, int, int]] = ()) -> None:
    """packets: (interface kind 'eth' or 'can', time, data); stats: (interface kind, received, dropped)."""
    with path.open("wb") as handle:
        writer = PcapngWriter(handle)
        ifaces = {"eth": writer.interface(LINKTYPE_ETHERNET, "up0"),
                  "can": writer.interface(LINKTYPE_CAN_SOCKETCAN, "vcan0")}
        last = 0.0
        for kind, time, data in packets:
            writer.packet(ifaces[kind], time, data)
            last = time
        for kind, received, dropped in stats:
            writer.statistics(ifaces[kind], last, received, dropped)


def _classic_pcap(path: Path, endian: str, nano: bool, records: list[tuple[int, int, bytes]],
                  linktype: int = LINKTYPE_ETHERNET) -> None:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)
    for sec, frac, data in records:
        out += struct.pack(endian + "IIII", sec, frac, len(data), len(data)) + data
    path.write_bytes(out)


# --- pcapng ---------------------------------------------------------------------------------------


def test_pcapng_round_trip_keeps_interfaces_link_types_and_data(tmp_path: Path) -> None:
    eth = _eth()
    can = socketcan_frame(0x3B2, b"\x06\x00\x00\x00\x00\x1c\x00\x1c")
    path = tmp_path / "mixed.pcapng"
    _write_pcapng(path, [("eth", 1700000000.000001, eth), ("can", 1700000000.5, can), ("eth", 1700000001.25, eth)])
    packets, info = read_capture(path)
    assert info.interfaces == [(LINKTYPE_ETHERNET, "up0"), (LINKTYPE_CAN_SOCKETCAN, "vcan0")]
    assert [(p.linktype, p.interface) for p in packets] == [
        (LINKTYPE_ETHERNET, 0), (LINKTYPE_CAN_SOCKETCAN, 1), (LINKTYPE_ETHERNET, 0)]
    assert [bytes(p.data) for p in packets] == [eth, can, eth]
    assert all(p.wirelen == len(p.data) for p in packets)
    assert parse_socketcan(packets[1].data) == (0x3B2, b"\x06\x00\x00\x00\x00\x1c\x00\x1c", False, False)
    assert not info.truncated and info.problem == ""


def test_pcapng_timestamps_are_preserved_to_the_microsecond(tmp_path: Path) -> None:
    times = [0.000001, 1.999999, 1700000000.123456, 1700000000.654321, 1999999999.999999]
    path = tmp_path / "times.pcapng"
    _write_pcapng(path, [("eth", t, _eth()) for t in times])
    packets, _ = read_capture(path)
    assert [round(p.time * 1e6) for p in packets] == [round(t * 1e6) for t in times]


@settings(max_examples=100, deadline=None)
@given(micros=st.lists(st.integers(min_value=0, max_value=2_000_000_000 * 10**6), min_size=1, max_size=5))
def test_pcapng_timestamp_property(tmp_path_factory: pytest.TempPathFactory, micros: list[int]) -> None:
    path = tmp_path_factory.mktemp("ts") / "t.pcapng"
    _write_pcapng(path, [("can", us / 1e6, socketcan_frame(0x120, b"\x01")) for us in micros])
    packets, _ = read_capture(path)
    assert [round(p.time * 1e6) for p in packets] == micros


def test_pcapng_snapped_packet_keeps_its_wire_length(tmp_path: Path) -> None:
    path = tmp_path / "snap.pcapng"
    with path.open("wb") as handle:
        writer = PcapngWriter(handle)
        writer.packet(writer.interface(LINKTYPE_ETHERNET, "up0"), 5.0, _eth()[:30], wirelen=1514)
    (packet,), _ = read_capture(path)
    assert len(packet.data) == 30 and packet.wirelen == 1514


def test_isb_statistics_are_read_back(tmp_path: Path) -> None:
    path = tmp_path / "stats.pcapng"
    _write_pcapng(path, [("eth", 1.0, _eth())], stats=[("eth", 1234, 0)])
    _, info = read_capture(path)
    assert info.drop_reported is True
    assert info.received == 1234 and info.dropped == 0


def test_isb_reporting_drops(tmp_path: Path) -> None:
    path = tmp_path / "drops.pcapng"
    _write_pcapng(path, [("eth", 1.0, _eth()), ("can", 2.0, socketcan_frame(0x120, b""))],
                  stats=[("eth", 100, 3), ("can", 50, 2)])
    _, info = read_capture(path)
    assert info.drop_reported is True
    assert info.dropped == 5 and info.received == 150


def test_without_isb_drops_are_not_reported(tmp_path: Path) -> None:
    path = tmp_path / "nostats.pcapng"
    _write_pcapng(path, [("eth", 1.0, _eth())])
    packets, info = read_capture(path)
    assert len(packets) == 1
    assert info.drop_reported is False and info.received is None and info.dropped == 0


def test_two_cumulative_isbs_for_one_interface_are_not_added(tmp_path: Path) -> None:
    path = tmp_path / "twice.pcapng"
    with path.open("wb") as handle:
        writer = PcapngWriter(handle)
        eth = writer.interface(LINKTYPE_ETHERNET, "up0")
        writer.packet(eth, 1.0, _eth())
        writer.statistics(eth, 1.0, 5, 1)    # counters so far
        writer.packet(eth, 2.0, _eth())
        writer.statistics(eth, 2.0, 10, 1)   # counters since the start: nothing more was lost
    _, info = read_capture(path)
    assert (info.received, info.dropped) == (10, 1)


def test_pcapng_cut_mid_packet_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcapng"
    _write_pcapng(path, [("eth", 1.0, _eth()), ("eth", 2.0, _eth(b"x" * 200))])
    whole = path.read_bytes()
    path.write_bytes(whole[:-100])
    packets, info = read_capture(path)
    assert info.truncated is True
    assert [p.time for p in packets] == [1.0]   # the whole packet before the cut is still read
    assert info.problem


def test_pcapng_cut_inside_a_block_header_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcapng"
    _write_pcapng(path, [("eth", 1.0, _eth())])
    path.write_bytes(path.read_bytes() + b"\x06\x00\x00\x00")
    packets, info = read_capture(path)
    assert len(packets) == 1 and info.truncated is True


def test_pcapng_corrupt_block_length_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.pcapng"
    _write_pcapng(path, [("eth", 1.0, _eth())])
    path.write_bytes(path.read_bytes() + struct.pack("<II", 6, 13) + b"\x00" * 16)
    packets, info = read_capture(path)
    assert len(packets) == 1 and info.truncated is True
    assert "corrupt block" in info.problem


def _block(endian: str, block_type: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack(endian + "II", block_type, len(body) + 12) + body + struct.pack(endian + "I", len(body) + 12)


def test_big_endian_pcapng_with_binary_timestamp_resolution(tmp_path: Path) -> None:
    e = ">"
    options = struct.pack(e + "HH", 2, 3) + b"bee\x00" + struct.pack(e + "HHB3x", 9, 1, 0x80 | 20)  # 2**-20 s
    stamp = (5 << 20) | 3
    data = _eth()
    path = tmp_path / "be.pcapng"
    path.write_bytes(
        _block(e, 0x0A0D0D0A, struct.pack(e + "IHHq", 0x1A2B3C4D, 1, 0, -1))
        + _block(e, 1, struct.pack(e + "HHI", LINKTYPE_ETHERNET, 0, 0) + options + b"\x00" * 4)
        + _block(e, 6, struct.pack(e + "IIIII", 0, stamp >> 32, stamp & 0xFFFFFFFF, len(data), 1500) + data)
        + _block(e, 5, struct.pack(e + "IIIHHQHHQ", 0, 0, 0, 4, 8, 77, 7, 8, 2) + b"\x00" * 4))
    (packet,), info = read_capture(path)
    assert bytes(packet.data) == data and packet.wirelen == 1500
    assert packet.time == 5 + 3 / 2**20
    assert info.interfaces == [(LINKTYPE_ETHERNET, "bee")]
    assert (info.received, info.dropped, info.drop_reported) == (77, 2, True)   # isb_osdrop counts as well


def test_concatenated_sections_number_interfaces_across_the_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a.pcapng", tmp_path / "b.pcapng"
    _write_pcapng(first, [("eth", 1.0, _eth(b"one"))])
    _write_pcapng(second, [("can", 2.0, socketcan_frame(0x120, b"\x01")), ("eth", 3.0, _eth(b"two"))])
    both = tmp_path / "both.pcapng"
    both.write_bytes(first.read_bytes() + second.read_bytes())
    packets, info = read_capture(both)
    assert len(info.interfaces) == 4
    assert [(p.time, p.interface, p.linktype) for p in packets] == [
        (1.0, 0, LINKTYPE_ETHERNET), (2.0, 3, LINKTYPE_CAN_SOCKETCAN), (3.0, 2, LINKTYPE_ETHERNET)]


def test_simple_packet_block_is_read_without_a_timestamp(tmp_path: Path) -> None:
    path = tmp_path / "spb.pcapng"
    _write_pcapng(path, [])
    data = _eth(b"simple")
    path.write_bytes(path.read_bytes() + _block("<", 3, struct.pack("<I", len(data)) + data))
    (packet,), info = read_capture(path)
    assert bytes(packet.data) == data and packet.time == 0.0 and not info.truncated


# --- classic pcap ---------------------------------------------------------------------------------


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_classic_pcap_byte_orders_and_resolutions(tmp_path: Path, endian: str, nano: bool) -> None:
    frac = 123456789 if nano else 123456
    path = tmp_path / "classic.pcap"
    data = [_eth(b"a"), _eth(b"bb")]
    _classic_pcap(path, endian, nano, [(1700000000, frac, data[0]), (1700000001, 0, data[1])])
    packets, info = read_capture(path)
    assert info.interfaces == [(LINKTYPE_ETHERNET, "")]
    assert [bytes(p.data) for p in packets] == data
    assert packets[0].time == pytest.approx(1700000000.123456789 if nano else 1700000000.123456, abs=1e-6)
    assert packets[1].time == 1700000001.0
    assert info.drop_reported is False and not info.truncated


def test_classic_pcap_written_by_scapy(tmp_path: Path) -> None:
    path = tmp_path / "scapy.pcap"
    frames = [Ether(**MAC) / IP(src="198.51.100.2", dst="203.0.113.20") / TCP(sport=40000 + i, dport=80)
              for i in range(3)]
    for i, frame in enumerate(frames):
        frame.time = 1700000000 + i + 0.25
    wrpcap(str(path), frames)
    packets, info = read_capture(path)
    assert [bytes(p.data) for p in packets] == [bytes(f) for f in frames]
    assert [p.time for p in packets] == pytest.approx([1700000000.25, 1700000001.25, 1700000002.25], abs=1e-6)
    assert info.interfaces == [(LINKTYPE_ETHERNET, "")]


@pytest.mark.parametrize("cut", [5, 20, 40])
def test_classic_pcap_cut_mid_packet_is_truncated(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "cut.pcap"
    _classic_pcap(path, "<", False, [(1, 0, _eth(b"first")), (2, 0, _eth(b"second" * 5))])
    path.write_bytes(path.read_bytes()[:-cut])
    packets, info = read_capture(path)
    assert info.truncated is True
    assert [p.time for p in packets] == [1.0]


# --- unreadable files -----------------------------------------------------------------------------


def test_text_file_is_refused_with_a_readable_message(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("this is a text file and certainly not a capture of anything\n", encoding="utf-8")
    with pytest.raises(CaptureFormatError) as caught:
        read_capture(path)
    message = str(caught.value)
    assert "notes.txt" in message and "not a pcap or pcapng file" in message
    assert "\n" not in message


@pytest.mark.parametrize("size", [0, 4, 23])
def test_too_short_file_is_refused(tmp_path: Path, size: int) -> None:
    path = tmp_path / "short.pcap"
    path.write_bytes(struct.pack("<I", 0xA1B2C3D4)[:size] + b"\x00" * max(0, size - 4))
    with pytest.raises(CaptureFormatError, match=rf"short\.pcap.*too short.*\({size} bytes\)"):
        read_capture(path)


def test_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaptureFormatError, match="absent.pcapng"):
        read_capture(tmp_path / "absent.pcapng")


# --- merge ----------------------------------------------------------------------------------------


def test_merge_interleaves_ethernet_and_can_by_time(tmp_path: Path) -> None:
    ethernet = [Packet(t, LINKTYPE_ETHERNET, _eth(sport=40000 + i), 60 + i) for i, t in enumerate((1.0, 3.0, 5.0))]
    can_frames = [(t, socketcan_frame(0x100 + i, bytes([i]))) for i, t in enumerate((0.5, 2.0, 4.0, 6.0))]
    out = tmp_path / "merged.pcapng"
    merge(reversed(ethernet), "up0", can_frames, "vcan0", out, stats=(3, 0))
    packets, info = read_capture(out)
    assert [p.time for p in packets] == [0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert [p.linktype for p in packets] == [LINKTYPE_CAN_SOCKETCAN, LINKTYPE_ETHERNET] * 3 + [LINKTYPE_CAN_SOCKETCAN]
    assert [p.wirelen for p in packets if p.linktype == LINKTYPE_ETHERNET] == [60, 61, 62]
    assert [parse_socketcan(p.data)[0] for p in packets if p.linktype == LINKTYPE_CAN_SOCKETCAN] == [
        0x100, 0x101, 0x102, 0x103]
    assert info.interfaces == [(LINKTYPE_ETHERNET, "up0"), (LINKTYPE_CAN_SOCKETCAN, "vcan0")]
    assert info.drop_reported and info.dropped == 0 and info.received == 3


def test_merge_without_stats_reports_no_drop_counters(tmp_path: Path) -> None:
    out = tmp_path / "merged.pcapng"
    merge([], "up0", [(1.0, socketcan_frame(0x120, b"\x00"))], "vcan0", out)
    packets, info = read_capture(out)
    assert len(packets) == 1 and info.drop_reported is False


def test_socketcan_frame_flags_round_trip() -> None:
    raw = socketcan_frame(0x18DAF110, b"\x01\x02", extended=True)
    assert parse_socketcan(raw) == (0x18DAF110, b"\x01\x02", True, False)
    assert parse_socketcan(socketcan_frame(0x7DF, b"", error=True))[3] is True
    assert parse_socketcan(b"\x00\x00") is None
