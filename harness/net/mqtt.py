"""MQTT 3.1.1 and 5 control packets from a reassembled stream: PUBLISH payloads (and the will
message of CONNECT) classified by their content and topic; anything malformed or cut off is said.

Written here because scapy's MQTT layer knows no MQTT 5 properties (so it misplaces the payload of
every v5 PUBLISH) and costs a dissection per message; the framing is a few fixed rules."""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass, field

from harness.net.classify import Classification, classify_body, vin_in_names
from harness.net.payload_model import FlowPayload, PayloadMessage, StreamClock

CONNECT, PUBLISH = 1, 3
PACKET_NAMES = {1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK", 5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP",
                8: "SUBSCRIBE", 9: "SUBACK", 10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
                14: "DISCONNECT", 15: "AUTH"}
# fixed-header flag bits each type must carry (PUBLISH's are meaningful and checked apart)
_REQUIRED_FLAGS = {6: 2, 8: 2, 10: 2}
_PROTOCOL_NAMES = {b"MQTT": (4, 5), b"MQIsdp": (3,)}


class MqttError(ValueError):
    """A packet that breaks the framing rules; decoding stops there."""


@dataclass
class MqttPacket:
    offset: int
    kind: int
    flags: int
    body: bytes


@dataclass
class Publish:
    offset: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    properties: dict[int, object] = field(default_factory=dict)
    will: bool = False


def looks_like_mqtt(stream: bytes) -> bool:
    """A stream that opens with an MQTT CONNECT (what every client sends first)."""
    if len(stream) < 10 or stream[0] != 0x10:
        return False
    try:
        _, used = varint(stream, 1)
    except MqttError:
        return False
    name_len = struct.unpack_from("!H", stream, 1 + used)[0] if len(stream) >= 3 + used else 0
    return stream[3 + used:3 + used + name_len] in _PROTOCOL_NAMES


def varint(data: bytes, offset: int) -> tuple[int, int]:
    """(value, bytes used) of a variable byte integer; at most four bytes."""
    value = 0
    for used in range(4):
        if offset + used >= len(data):
            raise MqttError("stream ends inside a length field")
        byte = data[offset + used]
        value |= (byte & 0x7F) << (7 * used)
        if not byte & 0x80:
            return value, used + 1
    raise MqttError("length field longer than four bytes")


def split_packets(stream: bytes) -> tuple[list[MqttPacket], str | None]:
    packets: list[MqttPacket] = []
    offset = 0
    while offset < len(stream):
        header = stream[offset]
        try:
            length, used = varint(stream, offset + 1)
        except MqttError as exc:
            return packets, f"packet at byte {offset}: {exc}"
        start = offset + 1 + used
        if start + length > len(stream):
            return packets, (f"{PACKET_NAMES.get(header >> 4, 'packet')} at byte {offset} is cut off "
                             f"({len(stream) - start} of {length} bytes)")
        kind, flags = header >> 4, header & 0x0F
        if kind == 0 or kind != PUBLISH and flags != _REQUIRED_FLAGS.get(kind, 0):
            return packets, f"invalid MQTT fixed header 0x{header:02x} at byte {offset}"
        packets.append(MqttPacket(offset, kind, flags, stream[start:start + length]))
        offset = start + length
    return packets, None


def _string(body: bytes, cursor: int) -> tuple[bytes, int]:
    if cursor + 2 > len(body):
        raise MqttError("string length runs past the packet")
    size = struct.unpack_from("!H", body, cursor)[0]
    if cursor + 2 + size > len(body):
        raise MqttError("string runs past the packet")
    return body[cursor + 2:cursor + 2 + size], cursor + 2 + size


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MqttError("topic is not UTF-8") from exc


# property id -> wire type (MQTT 5 section 2.2.2.2)
_PROPERTY_TYPES = {
    0x01: "byte", 0x02: "int", 0x03: "str", 0x08: "str", 0x09: "bin", 0x0B: "var", 0x11: "int", 0x12: "str",
    0x13: "short", 0x15: "str", 0x16: "bin", 0x17: "byte", 0x18: "int", 0x19: "byte", 0x1A: "str", 0x1C: "str",
    0x1F: "str", 0x21: "short", 0x22: "short", 0x23: "short", 0x24: "byte", 0x25: "byte", 0x26: "pair",
    0x27: "int", 0x28: "byte", 0x29: "byte", 0x2A: "byte",
}


def _properties(body: bytes, cursor: int) -> tuple[dict[int, object], int]:
    length, used = varint(body, cursor)
    cursor += used
    end = cursor + length
    if end > len(body):
        raise MqttError("properties run past the packet")
    found: dict[int, object] = {}
    while cursor < end:
        ident, used = varint(body, cursor)
        cursor += used
        kind = _PROPERTY_TYPES.get(ident)
        value: object
        if kind == "byte":
            value, cursor = body[cursor], cursor + 1
        elif kind == "short":
            value, cursor = struct.unpack_from("!H", body, cursor)[0], cursor + 2
        elif kind == "int":
            value, cursor = struct.unpack_from("!I", body, cursor)[0], cursor + 4
        elif kind == "var":
            value, used = varint(body, cursor)
            cursor += used
        elif kind in ("str", "bin"):
            value, cursor = _string(body, cursor)
        elif kind == "pair":
            key, cursor = _string(body, cursor)
            text, cursor = _string(body, cursor)
            value = (key, text)
        else:
            raise MqttError(f"unknown property 0x{ident:02x}")
        if cursor > end:
            raise MqttError("property runs past the properties")
        found[ident] = value
    return found, end


def parse_connect(body: bytes) -> tuple[int, list[str], Publish | None]:
    """(protocol level, client identity strings, will message or None) of a CONNECT body."""
    name, cursor = _string(body, 0)
    if name not in _PROTOCOL_NAMES or cursor + 4 > len(body):
        raise MqttError(f"CONNECT names protocol {name[:10]!r}")
    level, flags = body[cursor], body[cursor + 1]
    if level not in _PROTOCOL_NAMES[name]:
        raise MqttError(f"CONNECT protocol level {level} is not MQTT 3.1, 3.1.1 or 5")
    cursor += 4
    if level == 5:
        _, cursor = _properties(body, cursor)
    client_id, cursor = _string(body, cursor)
    identities = [client_id.decode("utf-8", "replace")]
    will = None
    if flags & 0x04:
        properties: dict[int, object] = {}
        if level == 5:
            properties, cursor = _properties(body, cursor)
        topic, cursor = _string(body, cursor)
        payload, cursor = _string(body, cursor)
        will = Publish(0, _text(topic), payload, (flags >> 3) & 3, bool(flags & 0x20), properties, will=True)
    if flags & 0x80:
        user, cursor = _string(body, cursor)
        identities.append(user.decode("utf-8", "replace"))
    return level, identities, will


def parse_publish(packet: MqttPacket, level: int, aliases: dict[int, str]) -> Publish:
    qos = (packet.flags >> 1) & 3
    if qos == 3:
        raise MqttError("PUBLISH with QoS 3")
    topic_raw, cursor = _string(packet.body, 0)
    topic = _text(topic_raw)
    if qos:
        if cursor + 2 > len(packet.body):
            raise MqttError("PUBLISH lacks its packet identifier")
        cursor += 2
    properties: dict[int, object] = {}
    if level == 5:
        properties, cursor = _properties(packet.body, cursor)
        alias = properties.get(0x23)
        if isinstance(alias, int):
            if topic:
                aliases[alias] = topic
            elif alias in aliases:
                topic = aliases[alias]
            else:
                raise MqttError(f"topic alias {alias} used before it was set")
    return Publish(packet.offset, topic, packet.body[cursor:], qos, bool(packet.flags & 1), properties)


def decode_mqtt(stream: bytes, clock: StreamClock, level: int | None = None, protocol: str = "mqtt") -> FlowPayload:
    """PUBLISH messages (and a CONNECT's will) of one direction, classified by payload and topic."""
    result = FlowPayload(protocol)
    packets, stopped = split_packets(stream)
    aliases: dict[int, str] = {}
    counted = {PUBLISH: 0}
    for packet in packets:
        try:
            if packet.kind == CONNECT:
                level, identities, will = parse_connect(packet.body)
                if vin_in_names(identities):  # a client id or user name that is a VIN sends the VIN
                    result.add(PayloadMessage(clock.at(packet.offset), protocol, frozenset({"vin"}), None,
                                              "CONNECT with a VIN as client identity"))
                else:
                    result.unread(clock.at(packet.offset),
                                  (("\n".join(identities).encode("utf-8", "replace"), "CONNECT identity"),))
                if will is not None:
                    _publish(result, will, clock)
            elif packet.kind == PUBLISH:
                counted[PUBLISH] += 1
                _publish(result, parse_publish(packet, level or 4, aliases), clock)
        except (MqttError, struct.error, IndexError) as exc:
            result.undecodable(f"{PACKET_NAMES.get(packet.kind, '?')} at byte {packet.offset}: {exc}")
    if stopped:
        result.undecodable(stopped)
    result.detail = f"{counted[PUBLISH]} MQTT PUBLISH" + (f" (MQTT {'5' if level == 5 else '3.1.1'})" if level else "")
    return result


@functools.lru_cache(maxsize=4096)
def _topic(topic: str) -> tuple[tuple[str, ...], bool]:
    """A topic's levels and whether one is a VIN (telemetry repeats a few topics)."""
    words = tuple(w for w in topic.split("/") if w)
    return words, vin_in_names(words)


def _publish(result: FlowPayload, message: Publish, clock: StreamClock) -> None:
    words, has_vin = _topic(message.topic)
    content_type = message.properties.get(0x03)
    classified: Classification = classify_body(message.payload, words,
                                               content_type.decode("utf-8", "replace")
                                               if isinstance(content_type, bytes) else "")
    categories = set(classified.categories)
    if has_vin:
        categories.add("vin")  # a VIN in the topic sends the VIN, and links the payload to the vehicle
    what = f"{'will' if message.will else 'PUBLISH'} {message.topic[:60]}"
    for problem in classified.unknown:
        result.undecodable(f"{what}: {problem}")
    parts = ((message.topic.encode("utf-8", "replace"), "topic"), (message.payload, "payload"))
    result.add(PayloadMessage(clock.at(message.offset), result.protocol, frozenset(categories), classified.location,
                              what), parts)
