"""GB/T 32960.3 framing without a dissector: the header's fields, the BCC, splitting a TCP stream into
frames and recognising a stream by content. Kept apart from the scapy layers (gbt32960) so a large
capture of well-formed frames is judged without importing or running them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import reduce
from operator import xor

COMMANDS = {
    0x01: "vehicle login", 0x02: "real-time report", 0x03: "re-issued report", 0x04: "vehicle logout",
    0x05: "platform login", 0x06: "platform logout", 0x07: "heartbeat", 0x08: "time calibration",
    0x80: "parameter query", 0x81: "parameter setting", 0x82: "terminal control",
}
RESPONSES = {0x01: "success", 0x02: "error", 0x03: "VIN duplicate", 0xFE: "command"}
ENCRYPTIONS = {0x01: "none", 0x02: "RSA", 0x03: "AES128", 0xFE: "abnormal", 0xFF: "invalid"}
HEADER_LEN = 24  # "##" up to and including the data unit length
MAX_UNITS = 255  # information units one report may hold
UNIT_TYPES = {
    0x01: "vehicle", 0x02: "drive motors", 0x03: "fuel cell", 0x04: "engine", 0x05: "location",
    0x06: "extremes", 0x07: "alarms", 0x08: "storage voltages", 0x09: "storage temperatures",
}
PRINTABLE = range(0x20, 0x7F)
PRINTABLE_BYTES = bytes(PRINTABLE)  # bytes.translate deletes these: what is left is not printable
# Plausible unencrypted data unit sizes (login: time, serial, ICCID, n, m; reports: at least the time).
LENGTH_OK: dict[int, Callable[[int], bool]] = {
    0x01: lambda n: n >= 30, 0x02: lambda n: n >= 6, 0x03: lambda n: n >= 6, 0x04: lambda n: n == 8,
    0x07: lambda n: n == 0, 0x08: lambda n: n in (0, 6),
}


def bcc(data: bytes) -> int:
    """XOR of all bytes; frames carry it over the command byte up to the end of the data unit."""
    return reduce(xor, data, 0)


@dataclass(frozen=True)
class FrameSlice:
    offset: int
    raw: bytes
    bcc_ok: bool
    complete: bool


def _plausible_header(h: bytes) -> bool:
    """Check the header bytes `h` holds; `h` may stop short (end of a stream)."""
    if not b"##".startswith(h[:2]):
        return False
    if len(h) > 2 and h[2] not in COMMANDS or len(h) > 3 and h[3] not in RESPONSES:
        return False
    if h[4:21].translate(None, PRINTABLE_BYTES) or len(h) > 21 and h[21] not in ENCRYPTIONS:
        return False
    if len(h) >= HEADER_LEN and h[21] == 0x01:  # encrypted units have cipher-dependent sizes
        return LENGTH_OK.get(h[2], lambda n: True)(int.from_bytes(h[22:24], "big"))
    return True


def iter_frames(stream: bytes) -> Iterator[FrameSlice]:
    """Split reassembled TCP payload into frames, skipping garbage up to the next plausible `##` header.

    A frame whose BCC fails is still yielded (bcc_ok False) and splitting continues after it; an
    incomplete last frame is yielded with complete False."""
    data = bytes(stream)
    pos = 0
    while True:
        start = data.find(b"##", pos)
        if start < 0:
            if data.endswith(b"#") and len(data) - 1 >= pos:  # may be the first half of the next "##"
                yield FrameSlice(len(data) - 1, b"#", False, False)
            return
        head = data[start:start + HEADER_LEN]
        if not _plausible_header(head):
            pos = start + 1  # "##" inside garbage, or "###": try the next alignment
            continue
        end = start + HEADER_LEN + int.from_bytes(head[22:24], "big") + 1
        if len(head) < HEADER_LEN or end > len(data):
            yield FrameSlice(start, data[start:], False, False)
            return
        raw = data[start:end]
        yield FrameSlice(start, raw, bcc(raw[2:-1]) == raw[-1], True)
        pos = end


def looks_like_gbt32960(stream_prefix: bytes) -> bool:
    """Content-based recognition of the first frame of a stream; needs at least the 24-byte header."""
    prefix = bytes(stream_prefix)
    if len(prefix) < HEADER_LEN or not _plausible_header(prefix[:HEADER_LEN]):
        return False
    end = HEADER_LEN + int.from_bytes(prefix[22:24], "big")
    return len(prefix) <= end or bcc(prefix[2:end]) == prefix[end]
