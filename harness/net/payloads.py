"""What each flow carried: its application protocol and data categories, decoded from the
reassembled stream (GB/T 32960 by content on any port, MQTT PUBLISH, HTTP/1.1 requests).

A flow whose payload cannot be decoded says so; the checks turn that into `inconclusive`."""

from __future__ import annotations

import bisect
import json
import struct
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from harness.net import gbt32960
from harness.net.classify import GBT32960_UNIT_CATEGORIES, categories_of_json, categories_of_keys
from harness.net.flows import TCP, Flow

HTTP_METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"OPTIONS ")


@dataclass(frozen=True)
class PayloadMessage:
    """One application message of a flow: when it was sent and what it carried."""

    time: float
    protocol: str
    categories: frozenset[str]
    location: tuple[float, float] | None = None  # (latitude, longitude) when the message holds a position
    detail: str = ""


@dataclass
class FlowPayload:
    protocol: str
    categories: set[str] = field(default_factory=set)
    decodable: bool = True
    messages: int = 0
    detail: str = ""
    items: list[PayloadMessage] = field(default_factory=list)

    def add(self, item: PayloadMessage) -> None:
        self.items.append(item)
        self.categories |= item.categories
        self.messages += 1


class _Clock:
    """Capture time of a byte offset in a reassembled stream."""

    def __init__(self, times: list[tuple[int, float]]) -> None:
        self.offsets = [o for o, _ in times]
        self.times = [t for _, t in times]

    def at(self, offset: int) -> float:
        if not self.times:
            return 0.0
        return self.times[max(0, bisect.bisect_right(self.offsets, offset) - 1)]


def describe(flow: Flow) -> FlowPayload:
    if flow.protocol != TCP:
        payload = b"".join(d for _, to_server, d in flow.datagrams if to_server)
        if not payload:
            return FlowPayload("udp", detail="no payload")
        return FlowPayload("udp", decodable=False, detail=f"{len(payload)} bytes of undecoded UDP payload")
    stream, missing, times = flow.to_server.stream_with_times()
    if not stream:
        return FlowPayload("tcp", detail="no payload")
    clock = _Clock(times)
    if gbt32960.looks_like_gbt32960(stream[:64]):
        result = _gbt32960(stream, clock)
    elif stream[:1] == b"\x10" and b"MQ" in stream[:16]:
        result = _mqtt(stream, clock)
    elif stream.startswith(HTTP_METHODS):
        result = _http(stream, clock)
    else:
        result = FlowPayload("tcp", decodable=False, detail=f"{len(stream)} bytes in an unknown protocol")
    if missing:
        result.decodable = False
        result.detail += f"; {missing} bytes missing from the stream"
    return result


def _gbt32960(stream: bytes, clock: _Clock) -> FlowPayload:
    result = FlowPayload("gbt32960")
    bad = 0
    for piece in gbt32960.iter_frames(stream):
        if not piece.complete:
            continue
        frame = gbt32960.decode_frame(piece.raw)
        if frame.encrypted or frame.error and not frame.bcc_ok:
            bad += 1
            result.messages += 1
            continue
        categories = {"vin"} if frame.vin else set()
        categories.update(GBT32960_UNIT_CATEGORIES.get(t, "vehicle_state") for t in frame.info_unit_types)
        location = (frame.location.latitude, frame.location.longitude) if frame.location else None
        result.add(PayloadMessage(clock.at(piece.offset), "gbt32960", frozenset(categories), location,
                                  frame.command_name))
        if frame.partial:
            bad += 1
    if bad:
        result.decodable = False
    result.detail = f"{result.messages} GB/T 32960 frames" + (f", {bad} not fully decodable" if bad else "")
    return result


def _mqtt(stream: bytes, clock: _Clock) -> FlowPayload:
    result = FlowPayload("mqtt")
    offset, version, undecoded = 0, 4, 0
    while offset < len(stream):
        header = stream[offset]
        length, used = _varint(stream, offset + 1)
        if length is None or offset + 1 + used + length > len(stream):
            undecoded += 1
            break
        body = stream[offset + 1 + used:offset + 1 + used + length]
        kind = header >> 4
        if kind == 1 and len(body) > 3:
            name_len = struct.unpack_from("!H", body, 0)[0]
            version = body[2 + name_len] if len(body) > 2 + name_len else 4
        elif kind == 3:
            payload = _publish_payload(body, header, version)
            cats = categories_of_json(payload) if payload is not None else None
            if cats is None:
                undecoded += 1
                result.messages += 1
            else:
                result.add(PayloadMessage(clock.at(offset), "mqtt", frozenset(cats), _json_location(payload),
                                          "PUBLISH"))
        offset += 1 + used + length
    result.decodable = undecoded == 0
    result.detail = f"{result.messages} MQTT PUBLISH" + (f", {undecoded} undecodable" if undecoded else "")
    return result


def _varint(data: bytes, offset: int) -> tuple[int | None, int]:
    value, multiplier = 0, 1
    for used in range(1, 5):
        if offset + used - 1 >= len(data):
            return None, used
        byte = data[offset + used - 1]
        value += (byte & 0x7F) * multiplier
        if not byte & 0x80:
            return value, used
        multiplier *= 128
    return None, 4


def _publish_payload(body: bytes, header: int, version: int) -> bytes | None:
    if len(body) < 2:
        return None
    topic_len = struct.unpack_from("!H", body, 0)[0]
    cursor = 2 + topic_len + (2 if (header >> 1) & 3 else 0)
    if version == 5:
        props, used = _varint(body, cursor)
        if props is None:
            return None
        cursor += used + props
    return body[cursor:] if cursor <= len(body) else None


def _http(stream: bytes, clock: _Clock) -> FlowPayload:
    result = FlowPayload("http")
    offset = 0
    while offset < len(stream):
        end = stream.find(b"\r\n\r\n", offset)
        if end < 0:
            result.decodable = False
            break
        head = stream[offset:end].decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:])}
        parts = head[0].split(" ")
        target = parts[1] if len(parts) > 1 else ""
        categories = categories_of_keys(parse_qs(urlsplit(target).query).keys())
        started = offset
        if "chunked" in headers.get("transfer-encoding", "") or headers.get("content-encoding"):
            result.decodable = False  # encoded bodies are not decoded yet: say so rather than guess
            break
        length = int(headers.get("content-length", "0") or 0)
        body = stream[end + 4:end + 4 + length]
        offset = end + 4 + length
        location = None
        if body:
            cats = categories_of_json(body)
            if cats is None:
                result.decodable = False
            else:
                categories |= cats
                location = _json_location(body)
        result.add(PayloadMessage(clock.at(started), "http", frozenset(categories), location, head[0][:80]))
    result.detail = f"{result.messages} HTTP requests"
    return result


def _json_location(payload: bytes | None) -> tuple[float, float] | None:
    """(lat, lon) from a flat JSON object with lat/latitude and lon/lng/longitude keys."""
    try:
        document = json.loads(payload or b"")
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(document, dict):
        return None
    lat = next((document[k] for k in ("lat", "latitude") if k in document), None)
    lon = next((document[k] for k in ("lon", "lng", "longitude") if k in document), None)
    if isinstance(lat, int | float) and isinstance(lon, int | float):
        return float(lat), float(lon)
    return None
