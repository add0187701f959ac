"""Read pcap and pcapng captures fast, and write one pcapng holding CAN and Ethernet together.

A struct walk over the raw blocks: it keeps interfaces, timestamp resolution, capture drop
statistics and truncation, which the verdicts depend on, and it is far faster than a dissector."""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from harness.errors import HarnessError

LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LINUX_SLL = 113
LINKTYPE_CAN_SOCKETCAN = 227
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

_SHB, _IDB, _PB, _SPB, _ISB, _EPB = 0x0A0D0D0A, 1, 2, 3, 5, 6
_PCAP_MAGIC = {0xA1B2C3D4: 1e-6, 0xA1B23C4D: 1e-9}


class CaptureFormatError(HarnessError):
    """The file is not a capture this harness can read."""


@dataclass(frozen=True)
class Packet:
    time: float
    linktype: int
    data: bytes
    wirelen: int
    interface: int = 0


@dataclass
class CaptureInfo:
    """What the file says about itself, beyond its packets."""

    interfaces: list[tuple[int, str]] = field(default_factory=list)   # (linktype, name)
    received: int | None = None
    dropped: int = 0
    drop_reported: bool = False
    truncated: bool = False
    problem: str = ""


def read_capture(path: Path | str) -> tuple[list[Packet], CaptureInfo]:
    info = CaptureInfo()
    return list(iter_capture(path, info)), info


def iter_capture(path: Path | str, info: CaptureInfo) -> Iterator[Packet]:
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CaptureFormatError(f"{path}: cannot read: {exc.strerror}") from None
    if size < 24:
        raise CaptureFormatError(f"{path}: too short to be a pcap or pcapng file ({size} bytes)")
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        magic = struct.unpack_from("<I", view, 0)[0]
        if magic == _SHB:
            yield from _pcapng(view, info)
        elif magic in _PCAP_MAGIC or struct.unpack_from(">I", view, 0)[0] in _PCAP_MAGIC:
            yield from _pcap(view, info)
        else:
            raise CaptureFormatError(f"{path}: not a pcap or pcapng file (magic {bytes(view[:4]).hex()})")


def _pcap(view: mmap.mmap, info: CaptureInfo) -> Iterator[Packet]:
    endian = "<" if struct.unpack_from("<I", view, 0)[0] in _PCAP_MAGIC else ">"
    magic, _, _, _, _, _, linktype = struct.unpack_from(endian + "IHHiIII", view, 0)
    unit = _PCAP_MAGIC[magic]
    info.interfaces.append((linktype & 0xFFFF, ""))
    record = struct.Struct(endian + "IIII")
    offset, end = 24, len(view)
    while offset < end:
        if offset + 16 > end:
            info.truncated = True
            return
        sec, frac, caplen, wirelen = record.unpack_from(view, offset)
        offset += 16
        if offset + caplen > end:
            info.truncated = True
            return
        yield Packet(sec + frac * unit, linktype & 0xFFFF, view[offset:offset + caplen], wirelen)
        offset += caplen


def _pcapng(view: mmap.mmap, info: CaptureInfo) -> Iterator[Packet]:
    offset, end = 0, len(view)
    endian = "<"
    resolutions: list[float] = []
    base = 0  # interface ids restart in every section
    while offset < end:
        if offset + 12 > end:
            info.truncated = True
            return
        block_type = struct.unpack_from(endian + "I", view, offset)[0]
        if block_type == _SHB:
            endian = "<" if view[offset + 8:offset + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            base = len(resolutions)
        length = struct.unpack_from(endian + "I", view, offset + 4)[0]
        if length < 12 or length % 4:
            info.problem = f"corrupt block at byte {offset} (length {length})"
            info.truncated = True
            return
        if offset + length > end:
            info.truncated = True
            return
        body = offset + 8
        if block_type == _IDB:
            linktype = struct.unpack_from(endian + "H", view, body)[0]
            options = _options(view, body + 8, offset + length - 4, endian)
            resolutions.append(_resolution(options.get(9, b"\x06")))
            name = options.get(2, b"").decode("utf-8", "replace")
            info.interfaces.append((linktype, name))
        elif block_type == _EPB:
            iface, high, low, caplen, wirelen = struct.unpack_from(endian + "IIIII", view, body)
            index = base + iface
            if index >= len(resolutions) or body + 20 + caplen > offset + length:
                info.problem = f"packet block at byte {offset} names no interface or overruns"
                info.truncated = True
                return
            yield Packet(((high << 32) | low) * resolutions[index], info.interfaces[index][0],
                         view[body + 20:body + 20 + caplen], wirelen, index)
        elif block_type == _SPB and base < len(resolutions):
            wirelen = struct.unpack_from(endian + "I", view, body)[0]
            caplen = min(wirelen, length - 16)
            yield Packet(0.0, info.interfaces[base][0], view[body + 4:body + 4 + caplen], wirelen, base)
        elif block_type == _PB and base < len(resolutions):
            iface, drops, high, low, caplen, wirelen = struct.unpack_from(endian + "HHIIII", view, body)
            index = base + iface
            info.dropped += drops
            yield Packet(((high << 32) | low) * resolutions[index], info.interfaces[index][0],
                         view[body + 20:body + 20 + caplen], wirelen, index)
        elif block_type == _ISB:
            options = _options(view, body + 12, offset + length - 4, endian)
            if 4 in options:
                info.received = (info.received or 0) + struct.unpack(endian + "Q", options[4][:8])[0]
            for code in (5, 7):  # isb_ifdrop, isb_osdrop
                if code in options:
                    info.dropped += struct.unpack(endian + "Q", options[code][:8])[0]
                    info.drop_reported = True
        offset += length


def _options(view: mmap.mmap, start: int, end: int, endian: str) -> dict[int, bytes]:
    options: dict[int, bytes] = {}
    while start + 4 <= end:
        code, size = struct.unpack_from(endian + "HH", view, start)
        if code == 0:
            break
        options[code] = bytes(view[start + 4:start + 4 + size])
        start += 4 + size + (-size % 4)
    return options


def _resolution(raw: bytes) -> float:
    value = raw[0] if raw else 6
    return 2.0 ** -(value & 0x7F) if value & 0x80 else 10.0 ** -(value & 0x7F)


class PcapngWriter:
    """Writes packets of several link types (Ethernet, SocketCAN) into one pcapng section."""

    def __init__(self, handle: BinaryIO) -> None:
        self._out = handle
        self._interfaces: dict[tuple[int, str], int] = {}
        self._block(_SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))

    def _block(self, block_type: int, body: bytes) -> None:
        body += b"\x00" * (-len(body) % 4)
        length = len(body) + 12
        self._out.write(struct.pack("<II", block_type, length) + body + struct.pack("<I", length))

    def interface(self, linktype: int, name: str) -> int:
        key = (linktype, name)
        if key not in self._interfaces:
            encoded = name.encode()
            options = struct.pack("<HH", 2, len(encoded)) + encoded + b"\x00" * (-len(encoded) % 4)
            options += struct.pack("<HHB3x", 9, 1, 9)  # if_tsresol: nanoseconds
            options += struct.pack("<HH", 0, 0)
            self._block(_IDB, struct.pack("<HHI", linktype, 0, 262144) + options)
            self._interfaces[key] = len(self._interfaces)
        return self._interfaces[key]

    def packet(self, interface: int, time: float, data: bytes, wirelen: int | None = None) -> None:
        stamp = round(time * 1e9)
        self._block(_EPB, struct.pack("<IIIII", interface, stamp >> 32, stamp & 0xFFFFFFFF, len(data),
                                      len(data) if wirelen is None else wirelen) + data)

    def statistics(self, interface: int, time: float, received: int, dropped: int) -> None:
        stamp = round(time * 1e9)
        options = struct.pack("<HHQ", 4, 8, received) + struct.pack("<HHQ", 5, 8, dropped) + struct.pack("<HH", 0, 0)
        self._block(_ISB, struct.pack("<III", interface, stamp >> 32, stamp & 0xFFFFFFFF) + options)


def socketcan_frame(arbitration_id: int, data: bytes, extended: bool = False, error: bool = False) -> bytes:
    """A frame as LINKTYPE_CAN_SOCKETCAN stores it: id with flags (big-endian), length, pad, data."""
    can_id = arbitration_id | (0x80000000 if extended else 0) | (0x20000000 if error else 0)
    return struct.pack(">IB3x", can_id, len(data)) + data.ljust(8, b"\x00")


def parse_socketcan(data: bytes) -> tuple[int, bytes, bool, bool] | None:
    """(id, data, extended, error) from a SocketCAN record, or None if it is too short."""
    if len(data) < 8:
        return None
    can_id, length = struct.unpack_from(">IB", data, 0)
    return can_id & 0x1FFFFFFF, bytes(data[8:8 + min(length, 64)]), bool(can_id & 0x80000000), bool(can_id & 0x20000000)


def merge(ethernet: Iterable[Packet], ethernet_name: str, can_frames: Iterable[tuple[float, bytes]],
          can_name: str, out: Path, stats: tuple[int, int] | None = None) -> None:
    """One pcapng, one timeline: the Ethernet capture and the CAN log interleaved by time."""
    items: list[tuple[float, int, bytes, int]] = []
    with out.open("wb") as handle:
        writer = PcapngWriter(handle)
        eth = writer.interface(LINKTYPE_ETHERNET, ethernet_name)
        can = writer.interface(LINKTYPE_CAN_SOCKETCAN, can_name)
        items.extend((p.time, eth, bytes(p.data), p.wirelen) for p in ethernet)
        items.extend((t, can, d, len(d)) for t, d in can_frames)
        items.sort(key=lambda item: item[0])
        for time, iface, data, wirelen in items:
            writer.packet(iface, time, data, wirelen)
        if stats is not None:
            last = items[-1][0] if items else 0.0
            writer.statistics(eth, last, stats[0], stats[1])
