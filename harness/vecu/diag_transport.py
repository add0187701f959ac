"""How a tester reaches the vECU's UDS server: ISO-TP on the CAN bus (can-isotp on the vECU's own
python-can bus and notifier) and a DoIP entity (ISO 13400-2) on the vehicle's IP side.

DoIP messages are packed and parsed with doipclient's message classes; only the listening side,
which doipclient does not provide, is written here."""

from __future__ import annotations

import socket
import socketserver
import struct
import threading
from contextlib import suppress
from typing import Any

import can
import isotp
from doipclient import messages as doip

from harness.scenarios.servers import received_chunks
from harness.vecu.uds_server import UdsServer

HEADER = struct.Struct("!BBHI")
ISOTP_PARAMS: dict[str, Any] = {"tx_padding": 0xCC, "tx_data_min_length": 8, "blocking_send": False,
                                "rx_flowcontrol_timeout": 1000, "rx_consecutive_frame_timeout": 1000}


class IsoTpServer:
    """UDS requests on `request_id`, responses on `response_id` (normal 11-bit addressing)."""

    def __init__(self, bus: can.BusABC, notifier: can.Notifier, request_id: int, response_id: int,
                 uds: UdsServer) -> None:
        address = isotp.Address(isotp.AddressingMode.Normal_11bits, rxid=request_id, txid=response_id)
        self.stack = isotp.NotifierBasedCanStack(bus, notifier, address=address, params=ISOTP_PARAMS)
        self.uds = uds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="uds-isotp", daemon=True)

    def start(self) -> None:
        self.stack.start()
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            request = self.stack.recv(block=True, timeout=0.1)
            if request is None:
                continue
            response = self.uds.handle(bytes(request))
            if response is not None:
                self.stack.send(response)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)
        self.stack.stop()


def frame(message: Any, version: int) -> bytes:
    body = bytes(message.pack() or b"")
    return HEADER.pack(version, 0xFF ^ version, message.payload_type, len(body)) + body


class _DoipHandler(socketserver.BaseRequestHandler):
    server: DoipEntity

    def handle(self) -> None:
        entity = self.server
        self.request.settimeout(0.5)
        buffer, tester = b"", None
        for chunk in received_chunks(self.request, entity.closing, 4096):
            buffer += chunk
            while len(buffer) >= HEADER.size:
                version, inverse, kind, length = HEADER.unpack_from(buffer)
                if inverse != 0xFF ^ version:
                    self._send(doip.GenericDoIPNegativeAcknowledge(0x00), entity.version)
                    return  # ISO 13400-2: a wrong header pattern closes the socket
                if len(buffer) < HEADER.size + length:
                    break
                payload, buffer = buffer[HEADER.size:HEADER.size + length], buffer[HEADER.size + length:]
                tester = self._message(kind, payload, tester)

    def _message(self, kind: int, payload: bytes, tester: int | None) -> int | None:
        entity = self.server
        cls: Any = doip.payload_type_to_message.get(kind)
        if cls is None:
            self._send(doip.GenericDoIPNegativeAcknowledge(0x01), entity.version)
            return tester
        message = cls.unpack(bytearray(payload), len(payload))
        if isinstance(message, doip.RoutingActivationRequest):
            self._send(doip.RoutingActivationResponse(message.source_address, entity.logical_address,
                                                      doip.RoutingActivationResponse.ResponseCode.Success),
                       entity.version)
            return int(message.source_address)
        if isinstance(message, doip.AliveCheckRequest):
            self._send(doip.AliveCheckResponse(entity.logical_address), entity.version)
        elif isinstance(message, doip.DiagnosticMessage):
            if tester is None or message.source_address != tester:
                # no routing activation on this socket: invalid source address (NACK 0x02)
                self._send(doip.DiagnosticMessageNegativeAcknowledgement(
                    entity.logical_address, message.source_address, 0x02), entity.version)
                return tester
            if message.target_address != entity.logical_address:
                self._send(doip.DiagnosticMessageNegativeAcknowledgement(
                    message.target_address, message.source_address, 0x03), entity.version)
                return tester
            self._send(doip.DiagnosticMessagePositiveAcknowledgement(
                entity.logical_address, tester, 0x00), entity.version)
            response = entity.uds.handle(bytes(message.user_data))
            if response is not None:
                self._send(doip.DiagnosticMessage(entity.logical_address, tester, bytearray(response)),
                           entity.version)
        return tester

    def _send(self, message: Any, version: int) -> None:
        with suppress(OSError):
            self.request.sendall(frame(message, version))


class DoipEntity(socketserver.ThreadingTCPServer):
    """TCP data socket (routing activation, diagnostic messages, alive check) on port 13400."""

    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], logical_address: int, vin: str, uds: UdsServer,
                 version: int = 2) -> None:
        self.logical_address, self.vin, self.uds, self.version = logical_address, vin, uds, version
        self.closing = threading.Event()
        super().__init__(address, _DoipHandler)
        self._identification = _Identification(address, self)

    def start(self) -> None:
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="doip", daemon=True).start()
        threading.Thread(target=self._identification.serve, name="doip-udp", daemon=True).start()

    def close(self) -> None:
        self.closing.set()
        self.shutdown()
        self.server_close()
        self._identification.close()


class _Identification:
    """UDP vehicle identification: a request (any of the three kinds) gets a vehicle announcement."""

    def __init__(self, address: tuple[str, int], entity: DoipEntity) -> None:
        self.entity = entity
        self.sock = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(address)
        self.sock.settimeout(0.1)
        self._closing = threading.Event()

    def serve(self) -> None:
        entity = self.entity
        while not self._closing.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if len(data) < HEADER.size:
                continue
            version, inverse, kind, _ = HEADER.unpack_from(data)
            if inverse != 0xFF ^ version or kind not in (0x0001, 0x0002, 0x0003):
                continue
            answer = doip.VehicleIdentificationResponse(entity.vin, entity.logical_address, bytes(6), bytes(6), 0x00)
            with suppress(OSError):
                self.sock.sendto(frame(answer, entity.version), peer)

    def close(self) -> None:
        self._closing.set()
        self.sock.close()
