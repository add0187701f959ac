"""A quick walk over the information units of a well-formed GB/T 32960 real-time report: unit types
and the position, which is all that data categories need, at a fraction of a scapy dissection's cost;
and a check that a session frame (login, logout, heartbeat, time calibration) is well formed.

Not a second decoder: it answers only when a frame is unencrypted, its BCC holds and every unit is
of a known type that exactly fills the data unit; for anything else it returns None and the caller
dissects the frame with the scapy layer (gbt32960.decode_frame). Tests hold the two to the same answer."""

from __future__ import annotations

from dataclasses import dataclass

from harness.net.gbt32960_frames import HEADER_LEN, MAX_UNITS

_FIXED = {0x01: 21, 0x04: 6, 0x05: 10, 0x06: 15}  # unit sizes including the type byte


@dataclass(frozen=True)
class ScannedReport:
    command: int
    unit_types: tuple[int, ...]
    location: tuple[float, float] | None  # (latitude, longitude), signed


def scan_report(raw: bytes) -> ScannedReport | None:
    """Unit types and position of a clean real-time (0x02) or re-issued (0x03) report, else None."""
    if len(raw) < HEADER_LEN + 7 or raw[2] not in (0x02, 0x03) or raw[21] != 0x01:
        return None
    length = (raw[22] << 8) | raw[23]
    end = HEADER_LEN + length
    if len(raw) != end + 1 or length < 6:
        return None
    cursor = HEADER_LEN + 6  # after the collection time
    types: list[int] = []
    location = None
    while cursor < end:
        kind = raw[cursor]
        size = _FIXED.get(kind)
        if size is None:
            size = _variable_size(raw, cursor, end)
            if size is None:
                return None
        if cursor + size > end or len(types) >= MAX_UNITS:
            return None
        if kind == 0x05 and location is None:
            status = raw[cursor + 1]
            longitude = round(int.from_bytes(raw[cursor + 2:cursor + 6], "big") * 1e-6, 6)
            latitude = round(int.from_bytes(raw[cursor + 6:cursor + 10], "big") * 1e-6, 6)
            location = (-latitude if status & 2 else latitude, -longitude if status & 4 else longitude)
        types.append(kind)
        cursor += size
    return ScannedReport(raw[2], tuple(types), location)


def _variable_size(raw: bytes, cursor: int, end: int) -> int | None:
    """Size of a counted unit (motors, alarms, storage voltages and temperatures), None if unknown or cut."""
    kind = raw[cursor]
    try:
        if kind == 0x02:
            return 2 + 12 * raw[cursor + 1]
        if kind == 0x07:
            walk = cursor + 6  # type, level, four bytes of general flags
            for _ in range(4):  # storage, motor, engine and other fault lists
                walk += 1 + 4 * raw[walk]
            return walk - cursor
        if kind == 0x08:
            walk = cursor + 2
            for _ in range(raw[cursor + 1]):
                walk += 10 + 2 * raw[walk + 9]  # id, voltage, current, cells, first cell, count, voltages
            return walk - cursor
        if kind == 0x09:
            walk = cursor + 2
            for _ in range(raw[cursor + 1]):
                walk += 3 + ((raw[walk + 1] << 8) | raw[walk + 2])  # id, two-byte count, temperatures
            return walk - cursor
    except IndexError:
        return None
    return None


_SESSION = {0x07: 0, 0x08: 0, 0x04: 8}  # heartbeat and time calibration are empty; logout: time, serial


def scan_session_frame(raw: bytes) -> int | None:
    """The command of a clean vehicle login, logout, heartbeat or time calibration, else None (the
    caller dissects it). These carry the VIN in the header and no information unit."""
    if len(raw) < HEADER_LEN + 1 or raw[21] != 0x01:
        return None
    length = (raw[22] << 8) | raw[23]
    if len(raw) != HEADER_LEN + length + 1:
        return None
    command = raw[2]
    if command == 0x01:  # time 6, serial 2, ICCID 20, n subsystems, code length m, n * m bytes of codes
        return command if length >= 30 and length == 30 + raw[HEADER_LEN + 28] * raw[HEADER_LEN + 29] else None
    return command if _SESSION.get(command) == length else None
