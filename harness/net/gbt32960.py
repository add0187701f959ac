"""GB/T 32960.3-2016 (China EV remote service and management protocol) frames as scapy layers.

Also virtual-ECU builders, a TCP stream splitter, a never-raising decoder and content-based recognition."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from scapy.fields import (
    ByteEnumField,
    Field,
    FieldLenField,
    FieldListField,
    PacketListField,
    ShortField,
    StrField,
    StrFixedLenField,
    StrLenField,
)
from scapy.packet import Packet, Raw, bind_bottom_up, bind_layers

from harness.net.gbt32960_crypto import UnitDecryptError, UnitKeys, decrypt_frame
from harness.net.gbt32960_frames import (
    COMMANDS,
    ENCRYPTIONS,
    HEADER_LEN,
    LENGTH_OK,
    PRINTABLE,
    RESPONSES,
    FrameSlice,
    bcc,
    iter_frames,
    looks_like_gbt32960,
)
from harness.net.gbt32960_units import (
    MAX_UNITS,
    UNIT_CLASSES,
    UNIT_TYPES,
    Alarms,
    Extremes,
    GBT32960Alarms,
    GBT32960Extremes,
    GBT32960MotorEntry,
    GBT32960Motors,
    GBT32960VehicleData,
    Location,
    MotorData,
    TimeField,
    VehicleData,
    counts_consistent,
    location_unit,
    location_view,
    next_unit,
    unit_fields,
    unit_view,
)

__all__ = [
    "COMMANDS", "ENCRYPTIONS", "RESPONSES", "Alarms", "DecodedFrame", "Extremes", "FrameSlice", "GBT32960",
    "GBT32960Login", "GBT32960Logout", "GBT32960Realtime", "GBT32960Time", "Location", "MotorData",
    "VehicleData", "bcc", "build_heartbeat", "build_login", "build_logout", "build_realtime",
    "build_response", "decode_frame", "iter_frames", "looks_like_gbt32960",
]

class _TrailingBCCField(Field[int | None, int | None]):
    """The BCC byte, which sits after the data unit rather than in the header.

    Dissection takes it from where `length` says the data unit ends, so bytes after the frame (the next
    frame of a stream) stay untouched; building emits nothing here and GBT32960.post_build appends it."""

    def __init__(self, name: str) -> None:
        super().__init__(name, None, "B")

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, int | None]:
        end = pkt.length
        if end is None or len(s) <= end:
            return s, None  # truncated frame: its BCC has not arrived
        return s[:end] + s[end + 1:], s[end]

    def addfield(self, pkt: Packet, s: bytes, val: int | None) -> bytes:
        return s

    def i2repr(self, pkt: Packet | None, x: int | None) -> str:
        return "None" if x is None else f"0x{x:02x}"


class GBT32960(Packet):
    """One frame; `length` and `bcc` are computed on build when left None."""

    name = "GB/T 32960"
    fields_desc = [
        StrFixedLenField("start", b"##", 2),
        ByteEnumField("command", 0x07, COMMANDS),
        ByteEnumField("response", 0xFE, RESPONSES),
        StrFixedLenField("vin", b"", 17),
        ByteEnumField("encryption", 0x01, ENCRYPTIONS),
        ShortField("length", None),
        _TrailingBCCField("bcc"),
    ]

    def post_dissect(self, s: bytes) -> bytes:
        # The cached raw header lacks the BCC; without the cache a rebuild goes through post_build.
        self.raw_packet_cache = None
        return s

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return s[: self.length], s[self.length:]

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        if self.length is None:
            pkt = pkt[:22] + struct.pack("!H", len(pay)) + pkt[24:]
        check = bcc(pkt[2:] + pay) if self.bcc is None else self.bcc
        return pkt + pay + bytes((check,))


class CountedList(FieldListField):
    """A list of exactly `count_from` items, even when each item is empty (m = 0 energy-storage code
    bytes is legal): scapy's own list stops as soon as no bytes remain."""

    def getfield(self, pkt: Packet, s: bytes) -> tuple[bytes, list[Any]]:
        count = self.count_from(pkt) if self.count_from is not None else 0
        values: list[Any] = []
        for _ in range(min(count, self.max_count or count)):
            if not s and self.field.length_from(pkt) > 0:  # type: ignore[attr-defined,union-attr]
                break  # the data ends early: the caller sees fewer items than declared
            s, value = self.field.getfield(pkt, s)
            values.append(value)
        return s, values


class GBT32960Login(Packet):
    name = "GB/T 32960 vehicle login (0x01)"
    fields_desc = [
        TimeField("collection_time"),
        ShortField("serial", 1),
        StrFixedLenField("iccid", b"", 20),
        FieldLenField("storage_count", None, fmt="B", count_of="storage_codes"),
        # One length m for all n codes, so derive it from the total.
        FieldLenField("storage_code_len", None, fmt="B", length_of="storage_codes",
                      adjust=lambda p, total: total // max(len(p.storage_codes), 1)),
        CountedList("storage_codes", [], StrLenField("", b"", length_from=lambda p: p.storage_code_len),
                    count_from=lambda p: p.storage_count, max_count=0xFF),
    ]


class GBT32960Logout(Packet):
    name = "GB/T 32960 vehicle logout (0x04)"
    fields_desc = [TimeField("collection_time"), ShortField("serial", 1)]


class GBT32960Time(Packet):
    """Time calibration answer: the platform's current time."""

    name = "GB/T 32960 time (0x08)"
    fields_desc = [TimeField("collection_time")]


class GBT32960Realtime(Packet):
    """Real-time (0x02) or re-issued (0x03) report; also the answer to one, which holds the time only."""

    name = "GB/T 32960 report"
    fields_desc = [
        TimeField("collection_time"),
        PacketListField("units", [], None, next_cls_cb=next_unit, max_count=MAX_UNITS),
        StrField("undecoded", b""),  # from the first unit that could not be decoded to the end
    ]


bind_layers(GBT32960, GBT32960Login, command=0x01)
bind_layers(GBT32960, GBT32960Realtime, command=0x02)
# Bottom-up only, so that building GBT32960()/GBT32960Realtime() still defaults to 0x02.
bind_bottom_up(GBT32960, GBT32960Realtime, command=0x03)
bind_layers(GBT32960, GBT32960Logout, command=0x04)
bind_layers(GBT32960, GBT32960Time, command=0x08)
_DATA_UNITS: dict[int, type[Packet]] = {
    0x01: GBT32960Login, 0x02: GBT32960Realtime, 0x03: GBT32960Realtime, 0x04: GBT32960Logout,
    0x08: GBT32960Time,
}


def _header(command: int, vin: str, response: int = 0xFE) -> GBT32960:
    raw = vin.encode("ascii")
    if len(raw) != 17 or any(b not in PRINTABLE for b in raw):
        raise ValueError(f"VIN must be 17 printable ASCII characters, got {vin!r}")
    return GBT32960(command=command, response=response, vin=raw, encryption=0x01)


def build_login(vin: str, when: datetime, serial: int, iccid: str, *,
                storage_codes: Sequence[bytes] = ()) -> bytes:
    """Vehicle login; `storage_codes` are the n rechargeable energy storage system codes, all m bytes long."""
    raw_iccid = iccid.encode("ascii")
    if len(raw_iccid) != 20:
        raise ValueError(f"ICCID must be 20 ASCII characters, got {iccid!r}")
    if len({len(code) for code in storage_codes}) > 1:
        raise ValueError("all energy storage system codes must have the same length")
    unit = GBT32960Login(collection_time=when, serial=serial, iccid=raw_iccid,
                         storage_codes=list(storage_codes))
    return bytes(_header(0x01, vin) / unit)


def build_realtime(vin: str, when: datetime, *, vehicle: VehicleData | None = None,
                   location: Location | None = None, motors: Sequence[MotorData] = (),
                   extremes: Extremes | None = None, alarms: Alarms | None = None,
                   extra_units: Sequence[Packet] = (), reissue: bool = False) -> bytes:
    """Real-time report (re-issued with reissue=True): units in the standard's order, then extra_units."""
    units: list[Packet] = []
    if vehicle is not None:
        units.append(GBT32960VehicleData(**unit_fields(vehicle)))
    if motors:
        units.append(GBT32960Motors(motors=[GBT32960MotorEntry(**unit_fields(m)) for m in motors]))
    if location is not None:
        units.append(location_unit(location))
    if extremes is not None:
        units.append(GBT32960Extremes(**unit_fields(extremes)))
    if alarms is not None:
        units.append(GBT32960Alarms(**unit_fields(alarms)))
    units.extend(extra_units)
    report = GBT32960Realtime(collection_time=when, units=units)
    return bytes(_header(0x03 if reissue else 0x02, vin) / report)


def build_logout(vin: str, when: datetime, serial: int) -> bytes:
    return bytes(_header(0x04, vin) / GBT32960Logout(collection_time=when, serial=serial))


def build_heartbeat(vin: str) -> bytes:
    return bytes(_header(0x07, vin))


def build_response(frame: bytes | Packet, flag: int = 0x01, *, when: datetime | None = None) -> bytes:
    """The platform's answer: same command and VIN, response `flag`, and as data unit the collection time
    for reports, `when` for time calibration, nothing for heartbeats, an echo of the data otherwise."""
    raw = bytes(frame)
    if len(raw) < HEADER_LEN or raw[:2] != b"##":
        raise ValueError("not a GB/T 32960 frame")
    if raw[21] != 0x01:
        raise ValueError("cannot answer an encrypted data unit without its key")
    command = raw[2]
    data = raw[HEADER_LEN:HEADER_LEN + int.from_bytes(raw[22:24], "big")]
    if command in (0x02, 0x03):
        data = data[:6]
    elif command == 0x07:
        data = b""
    elif command == 0x08:
        if when is None:
            raise ValueError("a time calibration answer needs `when`")
        data = bytes(GBT32960Time(collection_time=when))
    answer = GBT32960(command=command, response=flag, vin=raw[4:21], encryption=0x01)
    return bytes(answer / Raw(data) if data else answer)


@dataclass(frozen=True)
class DecodedFrame:
    """Decoder verdict; -1 / "" mark header fields the input did not contain."""

    command: int
    command_name: str
    response_flag: int
    vin: str
    encryption: int
    bcc_ok: bool
    collection_time: datetime | None = None
    info_unit_types: tuple[int, ...] = ()
    location: Location | None = None
    vehicle: VehicleData | None = None
    motors: tuple[MotorData, ...] = ()
    extremes: Extremes | None = None
    alarms: Alarms | None = None
    undecoded: bytes = b""  # report bytes from the first unit that was not decoded
    partial: bool = False
    encrypted: bool = False  # the data unit is encrypted and was not read (no key, or not this key)
    decrypted: bool = False  # the data unit was encrypted and the platform's key opened it
    error: str | None = None


_NOTHING = DecodedFrame(-1, "unknown", -1, "", -1, False)
_INTERNAL = "internal decoder failure"


def decode_frame(raw: bytes, keys: UnitKeys | None = None) -> DecodedFrame:
    """Decode one frame; never raises. `error` names the first problem (also set for a bad BCC).

    An encrypted data unit is read with `keys` (the platform's); without them it stays `encrypted`."""
    try:
        return _decode(bytes(raw), keys)
    except Exception as exc:  # last line of defence: the harness must get a verdict on hostile bytes
        return replace(_NOTHING, error=f"{_INTERNAL}: {exc!r}")


def _decode(raw: bytes, keys: UnitKeys | None = None) -> DecodedFrame:
    if len(raw) < HEADER_LEN:
        return replace(_NOTHING, error=f"{len(raw)} bytes, shorter than the {HEADER_LEN}-byte header")
    if raw[:2] != b"##":
        return replace(_NOTHING, error="does not start with ##")
    command, length, encryption = raw[2], int.from_bytes(raw[22:24], "big"), raw[21]
    head = DecodedFrame(
        command=command, command_name=COMMANDS.get(command, f"unknown 0x{command:02x}"), response_flag=raw[3],
        vin=raw[4:21].decode("ascii", "backslashreplace"), encryption=encryption, bcc_ok=False,
    )
    end = HEADER_LEN + length
    if len(raw) <= end:
        return replace(head, error=f"truncated: {length}-byte data unit and BCC need {end + 1} bytes, "
                                   f"got {len(raw)}")
    problems = []
    bcc_ok = bcc(raw[2:end]) == raw[end]
    if not bcc_ok:
        problems.append(f"BCC mismatch: computed 0x{bcc(raw[2:end]):02x}, frame carries 0x{raw[end]:02x}")
    if len(raw) > end + 1:
        problems.append(f"{len(raw) - end - 1} bytes after the BCC")
    for what, value, known in (("command", command, COMMANDS), ("response flag", raw[3], RESPONSES)):
        if value not in known:
            problems.append(f"unknown {what} 0x{value:02x}")
    head = replace(head, bcc_ok=bcc_ok)
    if encryption in (0x02, 0x03):
        try:  # without keys the unit is simply unread; with keys that fail, the frame says why
            plain = decrypt_frame(raw[: end + 1], keys) if bcc_ok and keys is not None else None
        except UnitDecryptError as exc:
            problems.append(f"data unit encrypted ({ENCRYPTIONS[encryption]}): {exc}")
            plain = None
        if plain is None:
            return replace(head, encrypted=True, error=problems[0] if problems else None)
        opened = _decode(plain)
        return replace(opened, encryption=encryption, decrypted=True,
                       error=opened.error or (problems[0] if problems else None))
    if encryption != 0x01:
        problems.append(f"encryption flag 0x{encryption:02x}: data unit not decoded")
        return replace(head, partial=length > 0, error=problems[0])
    if not LENGTH_OK.get(command, lambda n: True)(length):
        problems.append(f"{length}-byte data unit is not valid for {head.command_name}")
    body, problem = _decode_body(GBT32960(raw[: end + 1]), command, length)
    problems += [problem] if problem else []
    return replace(head, **body, error=problems[0] if problems else None)


def _decode_body(frame: GBT32960, command: int, length: int) -> tuple[dict[str, Any], str | None]:
    """DecodedFrame fields from the data unit, and the problem found in it if any."""
    expected = _DATA_UNITS.get(command)
    if expected is None or length == 0:
        return {"partial": length > 0}, None  # heartbeat, calibration request, or a unit not decoded here
    unit = frame.payload
    if not isinstance(unit, expected):
        return {"partial": True}, f"{expected.name} data unit could not be dissected"
    if unit.payload:
        return {"partial": True}, f"{len(unit.payload)} unexpected bytes at the end of the data unit"
    if not counts_consistent(unit):
        return {"partial": True}, "a declared count does not match the data"
    body: dict[str, Any] = {}
    problem = None
    if isinstance(unit.collection_time, datetime):
        body["collection_time"] = unit.collection_time
    else:
        problem = f"invalid collection time {unit.collection_time.hex()}"
    if isinstance(unit, GBT32960Realtime):
        units = unit.units
        first = {u.type: u for u in reversed(units)}
        stop = unit.undecoded[:1]
        if stop and stop[0] in UNIT_CLASSES:  # unknown types only make the decoding partial
            problem = problem or f"could not decode the {UNIT_TYPES[stop[0]]} unit (0x{stop[0]:02x})"
        body.update(
            info_unit_types=tuple(u.type for u in units),
            undecoded=unit.undecoded,
            partial=bool(unit.undecoded),
            location=location_view(first[0x05]) if 0x05 in first else None,
            vehicle=unit_view(VehicleData, first[0x01]) if 0x01 in first else None,
            motors=tuple(unit_view(MotorData, m) for m in first[0x02].motors) if 0x02 in first else (),
            extremes=unit_view(Extremes, first[0x06]) if 0x06 in first else None,
            alarms=unit_view(Alarms, first[0x07]) if 0x07 in first else None,
        )
    return body, problem
