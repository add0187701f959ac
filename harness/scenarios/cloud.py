"""The simulated cloud endpoints the vehicle talks to: a GB/T 32960 platform and an MQTT broker.

They answer as real peers do (platform responses, CONNACK/PUBACK) so the ECU behaves normally;
what they receive is not evidence: the capture at the uplink is."""

from __future__ import annotations

import socketserver
import ssl
import struct
import threading
from dataclasses import dataclass, field

from harness.net import gbt32960
from harness.scenarios.servers import ReusableTCPServer, received_chunks


@dataclass
class Received:
    """What the endpoints saw, for scenario waits and diagnostics only."""

    gbt32960_frames: int = 0
    mqtt_publishes: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Gbt32960PlatformHandler(socketserver.BaseRequestHandler):
    server: Gbt32960Platform

    def handle(self) -> None:
        buffer = b""
        self.request.settimeout(1.0)
        for chunk in received_chunks(self.request, self.server.closing):
            buffer += chunk
            consumed = 0
            for piece in gbt32960.iter_frames(buffer):
                if not piece.complete:
                    break
                consumed = piece.offset + len(piece.raw)
                with self.server.received.lock:
                    self.server.received.gbt32960_frames += 1
                if piece.bcc_ok:
                    try:
                        self.request.sendall(gbt32960.build_response(piece.raw))
                    except OSError:
                        return
            buffer = buffer[consumed:]


class Gbt32960Platform(ReusableTCPServer):
    def __init__(self, address: tuple[str, int], received: Received) -> None:
        self.received = received
        self.closing = threading.Event()
        super().__init__(address, Gbt32960PlatformHandler)


class MqttBrokerHandler(socketserver.BaseRequestHandler):
    """Enough of an MQTT 3.1.1/5 broker for a publishing client: CONNACK, PUBACK, PINGRESP."""

    server: MqttBroker

    def handle(self) -> None:
        self.request.settimeout(1.0)
        version = 4
        while not self.server.closing.is_set():
            try:
                packet = _read_mqtt_packet(self.request)
            except TimeoutError:
                continue
            except (OSError, ValueError):
                return
            if packet is None:
                return
            kind, flags, body = packet
            if kind == 1:  # CONNECT: protocol name, level
                name_len = struct.unpack_from("!H", body, 0)[0]
                version = body[2 + name_len]
                self._send(b"\x20\x03\x00\x00\x00" if version == 5 else b"\x20\x02\x00\x00")
            elif kind == 3:  # PUBLISH
                with self.server.received.lock:
                    self.server.received.mqtt_publishes += 1
                qos = (flags >> 1) & 3
                if qos:
                    topic_len = struct.unpack_from("!H", body, 0)[0]
                    packet_id = body[2 + topic_len:4 + topic_len]
                    self._send((b"\x40\x03" + packet_id + b"\x00") if version == 5 else (b"\x40\x02" + packet_id))
            elif kind == 12:  # PINGREQ
                self._send(b"\xd0\x00")
            elif kind == 14:  # DISCONNECT
                return

    def _send(self, data: bytes) -> None:
        try:
            self.request.sendall(data)
        except OSError:
            pass


def _read_exact(sock: socketserver.socket.socket, size: int) -> bytes | None:  # type: ignore[name-defined]
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_mqtt_packet(sock: socketserver.socket.socket) -> tuple[int, int, bytes] | None:  # type: ignore[name-defined]
    head = _read_exact(sock, 1)
    if head is None:
        return None
    length, multiplier = 0, 1
    for _ in range(4):
        byte = _read_exact(sock, 1)
        if byte is None:
            return None
        length += (byte[0] & 0x7F) * multiplier
        if not byte[0] & 0x80:
            break
        multiplier *= 128
    else:
        raise ValueError("malformed MQTT remaining length")
    body = _read_exact(sock, length) if length else b""
    if body is None:
        return None
    return head[0] >> 4, head[0] & 0x0F, body


class MqttBroker(ReusableTCPServer):
    def __init__(self, address: tuple[str, int], received: Received, tls: ssl.SSLContext | None = None) -> None:
        self.received = received
        self.tls = tls
        self.closing = threading.Event()
        super().__init__(address, MqttBrokerHandler)
