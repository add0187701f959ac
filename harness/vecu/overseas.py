"""Uploads only seeded defects make: the vehicle's data sent abroad in a maker's own schema and
encodings (other keys and nesting, protobuf, a hashed VIN, float32 in a datagram, an encrypted blob),
to a host nothing answers, over HTTPS to a host no rig lists (its TLS secrets logged or withheld), or
to a host reached only over IPv6.
The harness must recognise each by ground truth, not by our key names.

A defect sends position data only while the owner shares location, so it breaks locality alone."""

from __future__ import annotations

import hashlib
import os
import socket
import struct
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from harness.rig.config import Endpoint, VecuConfig
from harness.truth.wire import write_field, write_varint, zigzag
from harness.vecu.privacy import OwnerSwitches
from harness.vecu.services import Periodic
from harness.vecu.uplink import JsonUplink

DEFECTS = frozenset({"location-under-other-keys", "location-protobuf", "vin-hash-header", "position-float32-udp",
                     "upload-to-unserved-host", "encrypted-blob-abroad", "https-upload-to-unlisted-host",
                     "tls-keys-withheld", "location-ipv6-abroad"})
DATAGRAM_PORT = 5005
# a host no rig lists: only DNS places it (in the region its domain has in the netmap), the catch-all answers it
UNLISTED_HOST = "sync.example.eu"


class OverseasUploads:
    def __init__(self, config: VecuConfig, switches: OwnerSwitches, defects: frozenset[str]) -> None:
        self.defects = defects & DEFECTS
        self.vin, self.switches = config.vin, switches
        self.collector: Endpoint = config.endpoints["collector_overseas"]
        self.uplink = JsonUplink(self.collector)
        self.unserved = config.unserved.get("upload_overseas")
        self.timer = Periodic(10.0)
        unlisted = Endpoint(UNLISTED_HOST, 443, name=UNLISTED_HOST, tls=True)
        self.unlisted = JsonUplink(unlisted, log_keys="tls-keys-withheld" not in self.defects) \
            if self.defects & {"https-upload-to-unlisted-host", "tls-keys-withheld"} else None
        # a service with only an IPv6 address: a harness blind to IPv6 would see nothing leave
        self.fleet6 = JsonUplink(config.endpoints["fleet_overseas"]) if "location-ipv6-abroad" in self.defects \
            else None
        self.key = os.urandom(16)  # the maker's key: the harness does not have it
        self._pending: list[socket.socket] = []

    def tick(self, now: float, inputs: Mapping[str, Any]) -> None:
        if not self.timer.due(now):
            return
        self._close_pending()
        if "vin-hash-header" in self.defects:
            self.uplink.request("GET", "/v2/ping", headers={"X-Device": hashlib.sha256(self.vin.encode()).hexdigest()})
        if "upload-to-unserved-host" in self.defects and self.unserved is not None:
            self._attempt(self.unserved)
        if "gnss.latitude_deg" not in inputs or not self.switches.on("consent.location"):
            return
        lat, lon = float(inputs["gnss.latitude_deg"]), float(inputs["gnss.longitude_deg"])
        if "location-under-other-keys" in self.defects:
            self.uplink.post("/v2/ingest", {"t": int(now), "geo": {"la": round(lat, 6), "lo": round(lon, 6)}})
        if "location-protobuf" in self.defects:
            self.uplink.request("POST", "/v2/pb", trip_point(int(now), lat, lon),
                                {"Content-Type": "application/x-protobuf"})
        if "position-float32-udp" in self.defects:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.sendto(b"\xa5\x01" + struct.pack(">Iff", int(now), lat, lon), (self.collector.dial, DATAGRAM_PORT))
        if self.unlisted is not None:
            self.unlisted.post("/v1/trips", {"vin": self.vin, "t": int(now),
                                             "lat": round(lat, 6), "lon": round(lon, 6)})
        if self.fleet6 is not None:
            self.fleet6.post("/v1/positions", {"vin": self.vin, "t": int(now), "lat": round(lat, 6),
                                               "lon": round(lon, 6)})
        if "encrypted-blob-abroad" in self.defects:
            plain = f'{{"la":{lat:.6f},"lo":{lon:.6f},"t":{int(now)}}}'.encode() * 4
            nonce = os.urandom(16)
            sealed = Cipher(algorithms.AES(self.key), modes.CTR(nonce)).encryptor().update(plain)
            self.uplink.request("POST", "/v2/sync", b"d=" + (nonce + sealed).hex().encode(),
                                {"Content-Type": "application/x-www-form-urlencoded"})

    def _attempt(self, endpoint: Endpoint) -> None:
        """A connection to a host nothing answers: started without waiting, so the tick loop never stalls."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex((endpoint.dial, endpoint.port))
        self._pending.append(sock)

    def _close_pending(self) -> None:
        for sock in self._pending:
            sock.close()
        self._pending.clear()

    def close(self) -> None:
        self._close_pending()
        self.uplink.close()
        for uplink in (self.unlisted, self.fleet6):
            if uplink is not None:
                uplink.close()


def trip_point(t: int, lat: float, lon: float) -> bytes:
    """A protobuf message {1: t, 2: {1: sint32 lat x1e7, 2: sint32 lon x1e7}} as a maker's schema has it."""
    inner = write_field(1, 0, write_varint(zigzag(round(lat * 1e7)))) + \
        write_field(2, 0, write_varint(zigzag(round(lon * 1e7))))
    return write_field(1, 0, write_varint(t)) + write_field(2, 2, inner)
