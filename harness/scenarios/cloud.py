"""The simulated GB/T 32960 platform the vehicle reports to (the TSP's MQTT broker is Mosquitto:
harness/scenarios/broker.py).

It answers as a real platform does (responses to logins and reports) so the ECU behaves normally;
what it receives is not evidence: the capture at the uplink is."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field

from harness.net import gbt32960
from harness.net.gbt32960_crypto import AES128, UnitDecryptError, UnitKeys, decrypt_frame, encrypt_frame
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
                answer = self._answer(piece.raw) if piece.bcc_ok else None
                if answer is not None:
                    try:
                        self.request.sendall(answer)
                    except OSError:
                        return
            buffer = buffer[consumed:]

    def _answer(self, raw: bytes) -> bytes | None:
        """The platform opens an encrypted data unit with its key to answer (the answer to an AES-128
        frame is sealed back with the shared key); one it cannot open gets no answer, as on a real platform."""
        keys, encryption = self.server.keys, raw[21]
        if encryption in (0x02, 0x03):
            try:
                raw = decrypt_frame(raw, keys)
            except UnitDecryptError:
                return None
        answer = gbt32960.build_response(raw)
        return encrypt_frame(answer, keys, AES128) if encryption == AES128 and keys is not None else answer


class Gbt32960Platform(ReusableTCPServer):
    def __init__(self, address: tuple[str, int], received: Received, keys: UnitKeys | None = None) -> None:
        self.received, self.keys = received, keys
        self.closing = threading.Event()
        super().__init__(address, Gbt32960PlatformHandler)
