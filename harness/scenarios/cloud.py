"""The simulated GB/T 32960 platform the vehicle reports to (the TSP's MQTT broker is Mosquitto:
harness/scenarios/broker.py).

It answers as a real platform does (responses to logins and reports) so the ECU behaves normally;
what it receives is not evidence: the capture at the uplink is."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field

from harness.net import gbt32960
from harness.scenarios.servers import ReusableTCPServer, received_chunks


@dataclass
class Received:
    """What the endpoints saw, for scenario waits and diagnostics only."""

    gbt32960_frames: int = 0
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
