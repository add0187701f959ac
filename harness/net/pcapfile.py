"""Read pcap and pcapng captures fast, and write one pcapng holding CAN and Ethernet together.

A struct walk over the raw blocks: it keeps interfaces, timestamp resolution, capture drop
statistics and truncation, which the verdicts depend on, and it is far faster than a dissector."""

from __future__ import annotations

import mmap
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

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
# shb_userappl of the captures the rig writes: their missing drop counters mean the capturer did not report
RIG_CAPTURE = "vehicle-conformance-harness rig capture"


class CaptureFormatError(HarnessError):
    """The file is not a capture this harness can read."""


Record = tuple[float, int, bytes, int, int]  # (time, linktype, data, wirelen, interface), as Packet


class Packet(NamedTuple):
    """One captured packet (a tuple: the reader makes hundreds of thousands a second)."""

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
    application: str = ""  # the writer named in the section header (shb_userappl), if any
    # ISB counters run from the start of the capture: keep the latest per interface, never add them up
    isb_received: dict[int, int] = field(default_factory=dict)
    isb_dropped: dict[int, int] = field(default_factory=dict)
    block_drops: int = 0  # drops counted in obsolete packet blocks

    def record_statistics(self, interface: int, received: int | None, dropped: int | None) -> None:
        if received is not None:
            self.isb_received[interface] = received
            self.received = sum(self.isb_received.values())
        if dropped is not None:
            self.isb_dropped[interface] = dropped
            self.drop_reported = True
        self.dropped = self.block_drops + sum(self.isb_dropped.values())

    def drops_reported_for(self, linktypes: set[int]) -> bool:
        """Every interface of these link types carries the capturer's drop counter."""
        wanted = [i for i, (linktype, _) in enumerate(self.interfaces) if linktype in linktypes]
        return bool(wanted) and all(i in self.isb_dropped for i in wanted)

    @property
    def rig_capture(self) -> bool:
        """Written by this harness's rig, which always records the capturer's drop counters."""
        return self.application == RIG_CAPTURE


def read_capture(path: Path | str) -> tuple[list[Packet], CaptureInfo]:
    info = CaptureInfo()
    return list(iter_capture(path, info)), info


def iter_capture(path: Path | str, info: CaptureInfo) -> Iterator[Packet]:
    return map(Packet._make, iter_records(path, info))


def iter_records(path: Path | str, info: CaptureInfo) -> Iterator[Record]:
    """The packets as plain tuples shaped like Packet, which are much cheaper to make (the hot path)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise IsADirectoryError(21, "not a regular file")
    except OSError as exc:
        raise CaptureFormatError(f"{path}: cannot read: {exc.strerror}") from None
    if size < 24:
        raise CaptureFormatError(f"{path}: too short to be a pcap or pcapng file ({size} bytes)")
    with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
        magic = struct.unpack_from("<I", view, 0)[0]
        try:
            if magic == _SHB:
                yield from _pcapng(view, info)
            elif magic in _PCAP_MAGIC or struct.unpack_from(">I", view, 0)[0] in _PCAP_MAGIC:
                yield from _pcap(view, info)
            else:
                raise CaptureFormatError(f"{path}: not a pcap or pcapng file (magic {bytes(view[:4]).hex()})")
        except struct.error:
            # a block too short for the fields its type must hold: the rest of the file is unreadable
            info.truncated = True
            info.problem = info.problem or "a block is shorter than its type requires"


def _pcap(view: mmap.mmap, info: CaptureInfo) -> Iterator[Record]:
    endian = "<" if struct.unpack_from("<I", view, 0)[0] in _PCAP_MAGIC else ">"
    magic, _, _, _, _, _, linktype = struct.unpack_from(endian + "IHHiIII", view, 0)
    unit = _PCAP_MAGIC[magic]
    linktype &= 0xFFFF
    info.interfaces.append((linktype, ""))
    unpack = struct.Struct(endian + "IIII").unpack_from
    offset, end = 24, len(view)
    while offset < end:
        if offset + 16 > end:
            info.truncated = True
            return
        sec, frac, caplen, wirelen = unpack(view, offset)
        offset += 16
        if offset + caplen > end:
            info.truncated = True
            return
        yield sec + frac * unit, linktype, view[offset:offset + caplen], wirelen, 0
        offset += caplen


def _pcapng(view: mmap.mmap, info: CaptureInfo) -> Iterator[Record]:
    offset, end = 0, len(view)
    endian = "<"
    head = struct.Struct("<II").unpack_from
    epb = struct.Struct("<IIIIIII").unpack_from  # block type and length, then the packet block's fields
    resolutions: list[float] = []
    linktypes: list[int] = []
    base = 0  # interface ids restart in every section
    while offset < end:
        if offset + 28 <= end:  # the common case first, in one unpack: an enhanced packet block
            block_type, length, iface, high, low, caplen, wirelen = epb(view, offset)
            if block_type == _EPB:
                index = base + iface
                if length % 4 or offset + length > end or index >= len(resolutions) or 32 + caplen > length:
                    _broken_packet(info, offset, length, end, index < len(resolutions))
                    return
                yield (((high << 32) | low) * resolutions[index], linktypes[index],
                       view[offset + 28:offset + 28 + caplen], wirelen, index)
                offset += length
                continue
        elif offset + 12 > end:
            info.truncated = True
            return
        block_type, length = head(view, offset)
        if block_type == _SHB:
            endian = "<" if view[offset + 8:offset + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            head = struct.Struct(endian + "II").unpack_from
            epb = struct.Struct(endian + "IIIIIII").unpack_from
            block_type, length = head(view, offset)
            base = len(resolutions)
        if length < 12 or length % 4 or offset + length > end:
            _broken(info, offset, length, end)
            return
        body = offset + 8
        if block_type == _SHB:
            options = _options(view, body + 16, offset + length - 4, endian)
            if 4 in options:
                info.application = options[4].decode("utf-8", "replace")
        elif block_type == _IDB:
            linktype = struct.unpack_from(endian + "H", view, body)[0]
            options = _options(view, body + 8, offset + length - 4, endian)
            resolutions.append(_resolution(options.get(9, b"\x06")))
            linktypes.append(linktype)
            name = options.get(2, b"").decode("utf-8", "replace")
            info.interfaces.append((linktype, name))
        elif block_type == _SPB and base < len(resolutions):
            wirelen = struct.unpack_from(endian + "I", view, body)[0]
            caplen = min(wirelen, length - 16)
            yield 0.0, linktypes[base], view[body + 4:body + 4 + caplen], wirelen, base
        elif block_type == _PB and base < len(resolutions):
            iface, drops, high, low, caplen, wirelen = struct.unpack_from(endian + "HHIIII", view, body)
            index = base + iface
            if index >= len(resolutions) or 28 + caplen > length - 4:
                info.problem = f"packet block at byte {offset} names no interface or overruns"
                info.truncated = True
                return
            info.block_drops += drops
            info.dropped += drops
            yield (((high << 32) | low) * resolutions[index], linktypes[index],
                   view[body + 20:body + 20 + caplen], wirelen, index)
        elif block_type == _ISB:
            options = _options(view, body + 12, offset + length - 4, endian)
            iface = base + struct.unpack_from(endian + "I", view, body)[0]
            received = (struct.unpack(endian + "Q", options[4][:8])[0]
                        if len(options.get(4, b"")) >= 8 else None)
            drops = [struct.unpack(endian + "Q", options[code][:8])[0]
                     for code in (5, 7) if len(options.get(code, b"")) >= 8]  # isb_ifdrop, isb_osdrop
            info.record_statistics(iface, received, sum(drops) if drops else None)
        offset += length


def _broken_packet(info: CaptureInfo, offset: int, length: int, end: int, known_interface: bool) -> None:
    if length % 4 or length < 32 or offset + length > end:
        _broken(info, offset, length, end)
        return
    info.truncated = True
    info.problem = (f"packet block at byte {offset} overruns its length" if known_interface
                    else f"packet block at byte {offset} names no interface")


def _broken(info: CaptureInfo, offset: int, length: int, end: int) -> None:
    info.truncated = True
    if length < 12 or length % 4:
        info.problem = f"corrupt block at byte {offset} (length {length})"
    else:
        info.problem = f"last block at byte {offset} is cut off ({end - offset} of {length} bytes)"


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

    def __init__(self, handle: BinaryIO, application: str | None = None) -> None:
        self._out = handle
        self._interfaces: dict[tuple[int, str], int] = {}
        options = b""
        if application:
            encoded = application.encode()
            options = struct.pack("<HH", 4, len(encoded)) + encoded + b"\x00" * (-len(encoded) % 4)
            options += struct.pack("<HH", 0, 0)
        self._block(_SHB, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + options)

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
        writer = PcapngWriter(handle, application=RIG_CAPTURE)
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
