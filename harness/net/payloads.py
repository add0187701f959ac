"""What each flow carried: its application protocol and data categories, decoded from what one side
sent (GB/T 32960 by content on any port, MQTT, HTTP/1.1, TLS with or without keys, DNS, NTP, JSON).

A flow whose payload cannot be decoded says so, and why; the checks turn that into `inconclusive`.
Results are cached on the flow, so every check that asks pays for one decoding."""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from dataclasses import replace

from harness.net import gbt32960_frames as gbt32960
from harness.net.classify import GBT32960_UNIT_CATEGORIES, classify_body
from harness.net.dns import decode_dns, is_dns_flow
from harness.net.flows import TCP, UDP, Flow
from harness.net.gbt32960_crypto import UnitDecryptError, UnitKeys, decrypt_frame
from harness.net.gbt32960_scan import scan_report, scan_session_frame
from harness.net.http import decode_http, looks_like_http, parse_messages
from harness.net.mqtt import decode_mqtt, looks_like_mqtt, parse_connect, split_packets
from harness.net.payload_model import FlowPayload, PayloadMessage, StreamClock
from harness.net.tls import decode_tls, looks_like_tls

__all__ = ["FlowPayload", "PayloadMessage", "StreamClock", "describe", "decode_stream"]

NTP_PORT = 123
DHCP_PORTS = {67, 68}  # address configuration on the vehicle's own link: no data category


def describe(flow: Flow, from_client: bool = True) -> FlowPayload:
    """What one side of the flow sent (by default the client, i.e. the side that opened it)."""
    key = ("describe", from_client, flow.packets)
    cached = flow.cache.get(key)
    if cached is None:
        cached = flow.cache[key] = _describe(flow, from_client)
    return cached  # type: ignore[no-any-return]


def _describe(flow: Flow, from_client: bool) -> FlowPayload:
    if flow.protocol == UDP:
        result = _udp(flow, from_client)
    elif flow.protocol == TCP:
        result = _tcp(flow, from_client)
    else:  # pragma: no cover - the flow table holds TCP and UDP only
        result = FlowPayload("udp", decodable=False, detail=f"IP protocol {flow.protocol} is not decoded")
    _recognise(result, flow)
    if result.problems:
        result.detail = result.describe_problems()
    return result


def _recognise(result: FlowPayload, flow: Flow) -> None:
    """What decoders could not name: ground truth in any encoding, keys of binary containers, and
    opaque parts (undecodable, like TLS without keys)."""
    units, result.units = result.units, []
    if not units or flow.recognition is None:
        return
    found = flow.recognition.recogniser().inspect([(time, parts) for _, time, parts in units])
    for (index, time, _), recognised in zip(units, found, strict=True):
        for problem in recognised.opaque:
            result.undecodable(problem)
        for category, how in recognised.encodings.items():
            result.encodings.setdefault(category, how)
        if not recognised.categories:
            continue
        if index is None:
            result.add(PayloadMessage(time, result.protocol, frozenset(recognised.categories), recognised.location,
                                      "bytes no decoder names, searched for ground truth"))
            continue
        item = result.items[index]
        extra = recognised.categories - item.categories
        if extra or (item.location is None and recognised.location is not None):
            result.items[index] = replace(item, categories=item.categories | extra,
                                          location=item.location or recognised.location)
            result.categories |= extra


def _tcp(flow: Flow, from_client: bool) -> FlowPayload:
    stream, missing, times = flow.direction(from_client).stream_with_times()
    if not stream:
        result = FlowPayload("tcp", detail="no payload captured")
        if missing:
            result.undecodable(f"{missing} bytes the peer acknowledged were never captured")
        return result
    clock = StreamClock(times)
    client_stream = stream if from_client else flow.to_server.stream()[0]
    if looks_like_tls(client_stream):
        result = decode_tls(flow, from_client, functools.partial(decode_stream, unit_keys=flow.unit_keys))
    elif is_dns_flow(flow):
        result = decode_dns(flow, from_client)
    else:
        result = decode_stream(stream, clock, lambda: flow.direction(not from_client).stream()[0], flow.unit_keys)
    if missing:
        result.undecodable(f"{missing} bytes missing from the stream (capture gaps)")
    return result


def decode_stream(stream: bytes, clock: StreamClock, peer: Callable[[], bytes] = bytes,
                  unit_keys: UnitKeys | None = None) -> FlowPayload:
    """One side's bytes of a TCP stream (or decrypted TLS), recognised by content; `peer()` gives what
    the other side sent, which only HTTP responses and a broker's MQTT need (so it is asked lazily:
    the other side of a flow may be a large download); `unit_keys` open encrypted GB/T 32960 data units."""
    if _starts_gbt32960(stream):
        return _gbt32960(stream, clock, unit_keys)
    if looks_like_mqtt(stream):
        return decode_mqtt(stream, clock)
    if looks_like_http(stream):
        methods = None
        if stream.startswith(b"HTTP/1."):
            methods = [m.method for m in parse_messages(peer())[0] if m.is_request]
        return decode_http(stream, clock, methods)
    other = peer()
    if looks_like_mqtt(other):
        return decode_mqtt(stream, clock, level=_mqtt_level(other))
    result = FlowPayload("tcp")
    result.undecodable(f"{len(stream)} bytes in an unknown protocol")
    result.unread(clock.at(0), ((stream, "stream"),))
    return result


def _starts_gbt32960(stream: bytes) -> bool:
    """A GB/T 32960 header at the start, even if that frame's BCC then fails (the decoder will say so)."""
    if gbt32960.looks_like_gbt32960(stream[:64]):
        return True
    first = next(gbt32960.iter_frames(stream[:64]), None) if stream[:2] == b"##" else None
    return first is not None and first.offset == 0 and len(stream) >= gbt32960.HEADER_LEN


def _mqtt_level(client_stream: bytes) -> int | None:
    packets, _ = split_packets(client_stream[:4096])
    try:
        return parse_connect(packets[0].body)[0] if packets and packets[0].kind == 1 else None
    except (ValueError, struct.error, IndexError):
        return None


def _gbt32960(stream: bytes, clock: StreamClock, unit_keys: UnitKeys | None = None) -> FlowPayload:
    result = FlowPayload("gbt32960")
    bad = opened = 0
    expected = 0  # where the next frame should start: bytes skipped before it are not GB/T 32960
    for piece in gbt32960.iter_frames(stream):
        if piece.offset > expected:
            result.undecodable(f"{piece.offset - expected} bytes at byte {expected} are not GB/T 32960 frames")
        if not piece.complete:
            result.undecodable(f"the frame at byte {piece.offset} is cut off ({len(piece.raw)} bytes)")
            expected = len(stream)
            break
        expected = piece.offset + len(piece.raw)
        time = clock.at(piece.offset)
        raw = piece.raw
        if piece.bcc_ok and raw[21] in (0x02, 0x03) and unit_keys is not None:
            try:  # the platform's key opens the data unit; the plain frame then takes the paths below
                raw = decrypt_frame(raw, unit_keys)
                opened += 1
            except UnitDecryptError as exc:
                bad += 1
                result.add(PayloadMessage(time, "gbt32960", _VIN_ONLY, None, gbt32960.COMMANDS.get(raw[2], "frame")))
                result.undecodable(f"frame at byte {piece.offset}: data unit encrypted "
                                   f"({gbt32960.ENCRYPTIONS[raw[21]]}): {exc}")
                continue
        scanned = scan_report(raw) if piece.bcc_ok else None
        if scanned is not None:
            result.add(PayloadMessage(time, "gbt32960", _report_categories(scanned.unit_types), scanned.location,
                                      gbt32960.COMMANDS[scanned.command]))
            continue
        session = scan_session_frame(raw) if piece.bcc_ok else None
        if session is not None:  # a login or heartbeat: the VIN in its header, no unit to dissect
            result.add(PayloadMessage(time, "gbt32960", _VIN_ONLY, None, gbt32960.COMMANDS[session]))
            continue
        from harness.net.gbt32960 import decode_frame  # the scapy dissector, for what the quick paths leave

        frame = decode_frame(raw)
        if not frame.bcc_ok:  # also what the decoder reports when it could not read the frame at all
            bad += 1
            result.messages += 1
            result.undecodable(f"frame at byte {piece.offset}: {frame.error or 'not decodable'}")
            continue
        categories = {"vin"} if frame.vin else set()
        if frame.encrypted:
            # the header (with the VIN) is plain; the data unit is not
            result.add(PayloadMessage(time, "gbt32960", frozenset(categories), None, frame.command_name))
            result.undecodable(f"frame at byte {piece.offset}: data unit encrypted "
                               f"({gbt32960.ENCRYPTIONS.get(frame.encryption, frame.encryption)}), no key given")
            bad += 1
            continue
        categories.update(GBT32960_UNIT_CATEGORIES.get(t, "vehicle_state") for t in frame.info_unit_types)
        location = (frame.location.latitude, frame.location.longitude) if frame.location else None
        # a frame the standard does not fully describe may carry anything: search its bytes too
        result.add(PayloadMessage(time, "gbt32960", frozenset(categories), location, frame.command_name),
                   ((raw, "GB/T 32960 frame"),) if frame.partial else ())
        if frame.partial:
            bad += 1
            result.undecodable(f"frame at byte {piece.offset} ({frame.command_name}) only partly decoded"
                               + (f": {frame.error}" if frame.error else ""))
    if expected < len(stream):
        result.undecodable(f"{len(stream) - expected} bytes after the last frame are not GB/T 32960")
    result.detail = (f"{result.messages} GB/T 32960 frames" + (f", {opened} decrypted" if opened else "")
                     + (f", {bad} not fully decodable" if bad else ""))
    return result


_VIN_ONLY = frozenset({"vin"})


@functools.lru_cache(maxsize=1024)
def _report_categories(unit_types: tuple[int, ...]) -> frozenset[str]:
    # reports of one vehicle repeat the same few unit layouts
    return frozenset({"vin"} | {GBT32960_UNIT_CATEGORIES.get(t, "vehicle_state") for t in unit_types})


def _udp(flow: Flow, from_client: bool) -> FlowPayload:
    datagrams = [(t, d) for t, to_server, d in flow.datagrams if to_server == from_client]
    if not any(d for _, d in datagrams):
        return FlowPayload("udp", detail="no payload")
    if is_dns_flow(flow):
        return decode_dns(flow, from_client)
    port = flow.server.port if from_client else flow.client.port
    if NTP_PORT in (flow.server.port, flow.client.port) and all(_is_ntp(d) for _, d in datagrams):
        return FlowPayload("udp", messages=len(datagrams), detail=f"{len(datagrams)} NTP messages", infrastructure=True)
    if {flow.server.port, flow.client.port} & DHCP_PORTS and all(_is_dhcp(d) for _, d in datagrams):
        return FlowPayload("udp", messages=len(datagrams), detail=f"{len(datagrams)} DHCP messages",
                           infrastructure=True)
    result = FlowPayload("udp")
    for time, data in datagrams:
        if not data:
            continue
        if _starts_gbt32960(data):
            result.absorb(_gbt32960(data, StreamClock([(0, time)]), flow.unit_keys))
            continue
        classified = classify_body(data, (str(port),)) if data[:1] in b"{[" else None
        if classified is None or not classified.decodable:
            result.undecodable(f"{len(data)}-byte datagram in an unknown protocol")
            result.unread(time, ((data, "datagram"),))
            continue
        result.add(PayloadMessage(time, "udp", frozenset(classified.categories), classified.location, "JSON datagram"),
                   ((data, "datagram"),))
    result.detail = f"{len(datagrams)} UDP datagrams"
    return result


def _is_dhcp(data: bytes) -> bool:
    # BOOTP header (op 1 or 2, Ethernet hardware type) and the DHCP magic cookie after its 236 bytes
    return len(data) >= 240 and data[0] in (1, 2) and data[1] == 1 and data[236:240] == b"\x63\x82\x53\x63"


def _is_ntp(data: bytes) -> bool:
    # 48-byte header (plus optional extension fields / MAC); version 1-4, a client, server or broadcast mode
    return len(data) >= 48 and 1 <= (data[0] >> 3) & 7 <= 4 and data[0] & 7 in (1, 2, 3, 4, 5)

