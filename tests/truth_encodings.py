"""How a vehicle may write a position or an identifier, and the containers it may put them in: the
encodings the ground-truth search promises to see through, as hypothesis strategies and plain
functions, shared by the property tests and the false-match benchmark."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import struct
import zlib
from collections.abc import Callable
from urllib.parse import quote

import cbor2
import msgpack
from hypothesis import strategies as st

from harness.truth.model import GroundTruth, Track, identity, vin
from harness.truth.wire import write_field, write_varint, zigzag

T0 = 1_772_000_000.0
TRACK = Track.of([(T0 + i, 31.2304 + i * 2e-4, 121.4737 + i * 3e-4) for i in range(200)])
TRUTH = GroundTruth((vin("LHVTEST0000000001"), identity("Wang Fang"), identity("+86 100 0000 0000"),
                     identity("fang.wang@example.cn"), identity("11010519491231002X")), TRACK)


# a position written as bytes: (lat, lon, lat first?) -> bytes
POSITION_WRITERS: dict[str, Callable[[float, float, bool], bytes]] = {}


def _writer(name: str) -> Callable[[Callable[[float, float, bool], bytes]], Callable[[float, float, bool], bytes]]:
    def register(function: Callable[[float, float, bool], bytes]) -> Callable[[float, float, bool], bytes]:
        POSITION_WRITERS[name] = function
        return function
    return register


def _ordered(lat: object, lon: object, lat_first: bool) -> tuple[object, object]:
    return (lat, lon) if lat_first else (lon, lat)


for places in (4, 5, 6, 7):
    POSITION_WRITERS[f"decimal text {places}"] = (
        lambda lat, lon, first, p=places: json.dumps(
            dict(zip(("x", "y"), _ordered(round(lat, p), round(lon, p), first), strict=True))).encode())
for scale in (5, 6, 7):
    POSITION_WRITERS[f"integer text 1e{scale}"] = (
        lambda lat, lon, first, s=scale: "a={}&b={}".format(
            *_ordered(round(lat * 10 ** s), round(lon * 10 ** s), first)).encode())
    for order in (">", "<"):
        POSITION_WRITERS[f"int32 1e{scale} {order}"] = (
            lambda lat, lon, first, s=scale, o=order: struct.pack(
                f"{o}ii", *_ordered(round(lat * 10 ** s), round(lon * 10 ** s), first)))
for order in (">", "<"):
    POSITION_WRITERS[f"float32 {order}"] = (
        lambda lat, lon, first, o=order: struct.pack(f"{o}ff", *_ordered(lat, lon, first)))
    POSITION_WRITERS[f"float64 {order}"] = (
        lambda lat, lon, first, o=order: struct.pack(f"{o}dd", *_ordered(lat, lon, first)))


@_writer("protobuf sint32 1e7")
def _protobuf_sint(lat: float, lon: float, first: bool) -> bytes:
    a, b = _ordered(round(lat * 1e7), round(lon * 1e7), first)
    inner = write_field(1, 0, write_varint(zigzag(a))) + write_field(2, 0, write_varint(zigzag(b)))  # type: ignore[arg-type]
    return write_field(1, 0, write_varint(7)) + write_field(3, 2, inner)


@_writer("protobuf int32 1e6")
def _protobuf_int(lat: float, lon: float, first: bool) -> bytes:
    a, b = _ordered(round(lat * 1e6), round(lon * 1e6), first)
    return write_field(1, 0, write_varint(int(a))) + write_field(2, 0, write_varint(int(b)))  # type: ignore[call-overload]


@_writer("protobuf double")
def _protobuf_double(lat: float, lon: float, first: bool) -> bytes:
    a, b = _ordered(lat, lon, first)
    return write_field(1, 1, struct.pack("<d", a)) + write_field(2, 1, struct.pack("<d", b))


@_writer("protobuf float")
def _protobuf_float(lat: float, lon: float, first: bool) -> bytes:
    a, b = _ordered(lat, lon, first)
    return write_field(4, 5, struct.pack("<f", a)) + write_field(5, 5, struct.pack("<f", b))


@_writer("CBOR floats")
def _cbor(lat: float, lon: float, first: bool) -> bytes:
    return cbor2.dumps(dict(zip(("p", "q"), _ordered(lat, lon, first), strict=True)))


@_writer("MessagePack floats")
def _msgpack(lat: float, lon: float, first: bool) -> bytes:
    return bytes(msgpack.packb(list(_ordered(lat, lon, first))))


# containers: bytes -> bytes that carry them
CONTAINERS: dict[str, Callable[[bytes], bytes]] = {
    "raw": lambda b: b,
    "base64 in JSON": lambda b: json.dumps({"blob": base64.b64encode(b).decode()}).encode(),
    "base64url in a query": lambda b: b"/u?d=" + base64.urlsafe_b64encode(b).rstrip(b"="),
    "hex in a form": lambda b: b"v=1&data=" + b.hex().encode(),
    "gzip": gzip.compress,
    "zlib": zlib.compress,
    "URL-encoded": lambda b: quote(b.decode("latin-1"), safe="").encode(),
    "JSON string": lambda b: json.dumps({"s": b.decode("latin-1")}).encode(),
    "protobuf bytes field": lambda b: write_field(1, 0, b"\x01") + write_field(9, 2, b),
    "CBOR bytes": lambda b: cbor2.dumps({"payload": b, "v": 2}),
    "MessagePack bytes": lambda b: bytes(msgpack.packb({"payload": b, "v": 2})),
    "gzip in base64 in JSON": lambda b: json.dumps({"z": base64.b64encode(gzip.compress(b)).decode()}).encode(),
}
TEXT_ONLY = {"URL-encoded", "JSON string"}  # containers that carry text, not arbitrary bytes


def near_track(draw: st.DrawFn) -> tuple[float, float, float]:
    """A time and a position within about 30 m of the track point at that time."""
    index = draw(st.integers(0, len(TRACK) - 1))
    dlat = draw(st.floats(-2e-4, 2e-4))
    dlon = draw(st.floats(-2e-4, 2e-4))
    return float(TRACK.times[index]), float(TRACK.lat[index]) + dlat, float(TRACK.lon[index]) + dlon


def identifier_writings(value: str, kind: str) -> dict[str, bytes]:
    """The ways an identifier's string is written, literally or hashed."""
    raw = value.encode()
    writings = {"literal": raw, "upper": value.upper().encode(), "lower": value.lower().encode()}
    for name, function in (("md5", hashlib.md5), ("sha1", hashlib.sha1), ("sha256", hashlib.sha256)):
        writings[f"{name} hex"] = function(raw).hexdigest().encode()
        writings[f"{name} HEX"] = function(raw).hexdigest().upper().encode()
        writings[f"{name} raw"] = function(raw).digest()
    if kind == "phone":
        digits = "".join(c for c in value if c.isdigit())
        writings |= {"e164": f"+{digits}".encode(), "digits": digits.encode(), "national": digits[2:].encode(),
                     "dashed": "-".join(value.split()[1:]).encode()}
    return writings
