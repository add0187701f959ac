"""Schema-less readers for the binary containers vehicles use: protobuf wire format (written here: a
wire-format walk is a few lines, and no schema is at hand), CBOR (cbor2) and MessagePack (msgpack).

Each reader accepts a buffer only if it consumes it whole, so random bytes are rarely taken for one."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, field
from typing import Any

import cbor2
import msgpack

from harness.truth.positions import Number

MAX_FIELDS = 4096


@dataclass
class Protobuf:
    numbers: list[Number] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)   # length-delimited fields that are no message
    fields: int = 0


def _varint(data: bytes, cursor: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if cursor >= len(data) or shift > 63:
            raise ValueError("varint runs past the end")
        byte = data[cursor]
        cursor += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, cursor
        shift += 7


def read_protobuf(data: bytes, depth: int = 0) -> Protobuf | None:
    """Numbers and byte fields of a protobuf message, nested messages walked; None if `data` is not
    one whole message."""
    found = Protobuf()
    cursor = 0
    try:
        while cursor < len(data):
            key, cursor = _varint(data, cursor)
            number, wire = key >> 3, key & 7
            if number == 0 or number > 536_870_911:
                return None
            found.fields += 1
            if found.fields > MAX_FIELDS:
                return None
            if wire == 0:
                value, cursor = _varint(data, cursor)
                signed = value - (1 << 64) if value >= 1 << 63 else value
                found.numbers.append(Number(float(signed), "varint", True))
                zigzag = (value >> 1) ^ -(value & 1)
                if zigzag != signed:
                    found.numbers.append(Number(float(zigzag), "sint (zigzag)", True))
            elif wire == 1:
                if cursor + 8 > len(data):
                    return None
                found.numbers.append(Number(struct.unpack_from("<d", data, cursor)[0], "double", False))
                found.numbers.append(Number(float(struct.unpack_from("<q", data, cursor)[0]), "fixed64", True))
                cursor += 8
            elif wire == 5:
                if cursor + 4 > len(data):
                    return None
                found.numbers.append(Number(struct.unpack_from("<f", data, cursor)[0], "float", False))
                found.numbers.append(Number(float(struct.unpack_from("<i", data, cursor)[0]), "fixed32", True))
                cursor += 4
            elif wire == 2:
                length, cursor = _varint(data, cursor)
                if cursor + length > len(data):
                    return None
                chunk = data[cursor:cursor + length]
                cursor += length
                inner = read_protobuf(chunk, depth + 1) if depth < 8 and chunk and _could_be_message(chunk) else None
                if inner is not None:
                    found.numbers += inner.numbers
                    found.chunks += inner.chunks
                    found.fields += inner.fields
                else:
                    found.chunks.append(chunk)
            else:
                return None
    except (ValueError, struct.error):
        return None
    return found if found.fields else None


def _could_be_message(chunk: bytes) -> bool:
    # printable text is a string field, not a nested message, whatever it happens to parse as
    return not all(32 <= b < 127 for b in chunk[:64])


def read_cbor(data: bytes) -> Any:
    """A CBOR map or array that is the whole buffer, or None."""
    if not data or data[0] >> 5 not in (4, 5):
        return None
    stream = io.BytesIO(data)
    try:
        value = cbor2.CBORDecoder(stream).decode()
    except Exception:  # noqa: BLE001 - cbor2 raises many kinds on bytes that are not CBOR
        return None
    return value if stream.tell() == len(data) and isinstance(value, dict | list) else None


def read_msgpack(data: bytes) -> Any:
    """A MessagePack map or array that is the whole buffer, or None."""
    if not data or not (0x80 <= data[0] <= 0x9F or data[0] in (0xDC, 0xDD, 0xDE, 0xDF)):
        return None
    try:
        value = msgpack.unpackb(data, raw=False, strict_map_key=False, unicode_errors="replace")
    except Exception:  # noqa: BLE001 - ExtraData, FormatError, UnicodeDecodeError, ...
        return None
    return value if isinstance(value, dict | list) else None


def write_varint(value: int) -> bytes:
    """A protobuf base-128 varint (non-negative values)."""
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def zigzag(value: int) -> int:
    """The sint32/sint64 mapping of a signed value onto a varint."""
    return (value << 1) ^ (value >> 63)


def write_field(number: int, wire: int, payload: bytes) -> bytes:
    """One protobuf field: key, then the payload (length-prefixed for wire type 2)."""
    return write_varint(number << 3 | wire) + (write_varint(len(payload)) if wire == 2 else b"") + payload
