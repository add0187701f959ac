"""Real TLS sessions for synthetic evidence: Python's ssl module runs both ends over memory BIOs
(no socket, no network), the client writes an NSS key log as the vehicle does, and the bytes each
side sent become TCP segments of a capture, so the decoders meet TLS exactly as a rig records it."""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from harness.net.pcapfile import LINKTYPE_ETHERNET, Packet
from harness.scenarios.campaign import Campaign
from harness.scenarios.rig_ca import RigCa
from tests.synthetic_evidence import VEHICLE, wall

OTA_NAME = "ota.example.cn"
OTA_ADDRESS = "203.0.113.30"


class TlsConversation:
    """One TLS connection from the vehicle; `exchange` sends a request and the server's answer."""

    def __init__(self, ca: RigCa, vehicle: Path, keylog: Path | None, start: float, sport: int,
                 server: tuple[str, int] = (OTA_ADDRESS, 443), name: str = OTA_NAME) -> None:
        self.server, self.sport, self.t = server, sport, start
        self.seq = {True: 1000, False: 5000}
        self.packets: list[Packet] = []
        client_context = ssl.create_default_context(cafile=str(vehicle / "ca.pem"))
        client_context.load_cert_chain(vehicle / "vehicle.pem", vehicle / "vehicle.key")
        client_context.keylog_filename = str(keylog) if keylog else None  # type: ignore[assignment]
        self._bios = [ssl.MemoryBIO() for _ in range(4)]  # client in/out, server in/out
        self.client = client_context.wrap_bio(self._bios[0], self._bios[1], server_hostname=name)
        self.server_end = ca.server_context(name, require_client=True).wrap_bio(self._bios[2], self._bios[3],
                                                                               server_side=True)
        self._segment(True, "S", b"")
        self._segment(False, "SA", b"")
        self.seq = {True: 1001, False: 5001}
        self.failed = self._handshake()

    def _segment(self, from_vehicle: bool, flags: str, data: bytes) -> None:
        src, dst = (VEHICLE, self.server[0]) if from_vehicle else (self.server[0], VEHICLE)
        sport, dport = (self.sport, self.server[1]) if from_vehicle else (self.server[1], self.sport)
        layer = Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=self.seq[from_vehicle])
        for offset in range(0, max(len(data), 1), 1400):
            chunk = data[offset:offset + 1400]
            raw = bytes(layer / Raw(chunk)) if chunk else bytes(layer)
            layer[TCP].seq = self.seq[from_vehicle] + offset + len(chunk)
            self.packets.append(Packet(wall(self.t), LINKTYPE_ETHERNET, raw, len(raw)))
        self.seq[from_vehicle] += len(data)
        self.t += 0.01

    def _pump(self) -> bool:
        """Carry what each end wrote to the other, as segments; False when nothing moved."""
        moved = False
        for source, sink, from_vehicle in ((self._bios[1], self._bios[2], True), (self._bios[3], self._bios[0], False)):
            data = source.read()
            if data:
                sink.write(data)
                self._segment(from_vehicle, "PA", data)
                moved = True
        return moved

    def _handshake(self) -> str | None:
        """None once both ends are through; else why the handshake failed (e.g. a CA the client does not trust)."""
        done = {True: False, False: False}
        for _ in range(20):
            for end, side in ((self.client, True), (self.server_end, False)):
                if done[side]:
                    continue
                try:
                    end.do_handshake()
                    done[side] = True
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                except ssl.SSLError as exc:
                    self._pump()
                    return str(exc)
            if not self._pump() and all(done.values()):
                return None
        return "handshake did not finish"

    def exchange(self, request: bytes, response: bytes) -> TlsConversation:
        self.client.write(request)
        self._pump()
        received = b""
        while len(received) < len(request):
            received += self.server_end.read(65536)
        self.server_end.write(response)
        self._pump()
        answer = b""
        while len(answer) < len(response):
            answer += self.client.read(65536)
        return self


@dataclass
class Tls:
    """The rig CA, the vehicle's TLS material (its own CA file may differ) and the key log it writes."""

    ca: RigCa
    vehicle: Path
    keylog: Path | None

    @classmethod
    def made_in(cls, directory: Path, keylog: bool = True) -> Tls:
        ca = RigCa(directory / "ca")
        return cls(ca, ca.vehicle_material("LHVTEST0000000001"), directory / "keylog.txt" if keylog else None)

    def connect(self, t: float, sport: int, server: tuple[str, int] = (OTA_ADDRESS, 443),
                name: str = OTA_NAME) -> TlsConversation:
        return TlsConversation(self.ca, self.vehicle, self.keylog, t, sport, server, name)


def _ok(body: bytes, kind: str) -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body


def campaign_list(tls: Tls, t: float, metadata: list[dict[str, Any]], sport: int = 41000,
                  server: tuple[str, int] = (OTA_ADDRESS, 443), name: str = OTA_NAME) -> TlsConversation:
    body = json.dumps({"vin": "LHVTEST0000000001", "campaigns": metadata}).encode()
    request = f"GET /ota/v1/campaigns?vin=LHVTEST0000000001 HTTP/1.1\r\nHost: {name}\r\n\r\n".encode()
    return tls.connect(t, sport, server, name).exchange(request, _ok(body, "application/json"))


def package_download(tls: Tls, t: float, campaign: Campaign, sport: int = 42000,
                     server: tuple[str, int] = (OTA_ADDRESS, 443), name: str = OTA_NAME) -> TlsConversation:
    request = f"GET {campaign.package_url} HTTP/1.1\r\nHost: {name}\r\n\r\n".encode()
    return tls.connect(t, sport, server, name).exchange(request, _ok(campaign.package, "application/octet-stream"))
