"""The vECU's UDS server (ISO 14229): diagnostic sessions and software identification, the same
behind ISO-TP on CAN and behind DoIP on IP.

A programming session is granted only with the vehicle stationary in park with the parking brake
applied; otherwise NRC 0x22 conditionsNotCorrect (a seeded defect drops one of the conditions)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from udsoncan import Request, Response
from udsoncan.exceptions import InvalidResponseException
from udsoncan.services import DiagnosticSessionControl, ReadDataByIdentifier, TesterPresent

SESSION_TIMEOUT_S = 5.0   # S3: a non-default session falls back to default without TesterPresent
P2_TIMING = bytes([0x00, 0x32, 0x01, 0xF4])  # P2 50 ms, P2* 5000 ms (in 10 ms units)
DEFAULT, PROGRAMMING, EXTENDED = 0x01, 0x02, 0x03
STANDSTILL_KPH = 0.5      # slower than this the vehicle is stationary
LOW_SPEED_KPH = 8.0       # what a seeded defect takes for "not really driving"


class UdsServer:
    def __init__(self, identifiers: Mapping[int, Callable[[], bytes]], vehicle: Callable[[], Mapping[str, Any]],
                 defects: frozenset[str]) -> None:
        self.identifiers, self.vehicle, self.defects = identifiers, vehicle, defects
        self.session = DEFAULT
        self._last_request = time.monotonic()
        self._lock = threading.Lock()  # CAN and DoIP testers may ask at the same time

    def handle(self, payload: bytes) -> bytes | None:
        """The response to one request, or None when the positive response is suppressed."""
        with self._lock:
            if self.session != DEFAULT and time.monotonic() - self._last_request > SESSION_TIMEOUT_S:
                self.session = DEFAULT
            self._last_request = time.monotonic()
            try:
                request = Request.from_payload(payload)
            except (ValueError, IndexError, InvalidResponseException):
                request = None
            if request is None or request.service is None:
                sid = payload[0] if payload else 0
                return bytes([0x7F, sid, Response.Code.ServiceNotSupported])
            if request.service is DiagnosticSessionControl:
                response = self._session_control(request)
            elif request.service is ReadDataByIdentifier:
                response = self._read_data(request)
            elif request.service is TesterPresent:
                response = Response(TesterPresent, Response.Code.PositiveResponse, data=b"\x00")
            else:
                response = Response(request.service, Response.Code.ServiceNotSupported)
            if response.code == Response.Code.PositiveResponse and request.suppress_positive_response:
                return None
            return bytes(response.get_payload())

    def _session_control(self, request: Request) -> Response:
        session = request.subfunction
        if session not in (DEFAULT, PROGRAMMING, EXTENDED):
            return Response(DiagnosticSessionControl, Response.Code.SubFunctionNotSupported)
        if session == PROGRAMMING and not self._may_program():
            return Response(DiagnosticSessionControl, Response.Code.ConditionsNotCorrect)
        self.session = session
        return Response(DiagnosticSessionControl, Response.Code.PositiveResponse, data=bytes([session]) + P2_TIMING)

    def _may_program(self) -> bool:
        if "programming-session-while-driving" in self.defects:
            return True
        v = self.vehicle()
        speed = float(v.get("vehicle.speed_kph", 999.0))
        if "programming-session-at-low-speed" in self.defects and speed < LOW_SPEED_KPH:
            return True
        gears = ("P", "N") if "programming-session-in-neutral" in self.defects else ("P",)
        braked = v.get("vehicle.parking_brake") == "Applied" or "programming-session-brake-ignored" in self.defects
        return speed < STANDSTILL_KPH and v.get("vehicle.gear") in gears and braked

    def _read_data(self, request: Request) -> Response:
        data = request.data or b""
        if not data or len(data) % 2:
            return Response(ReadDataByIdentifier, Response.Code.IncorrectMessageLengthOrInvalidFormat)
        out = b""
        for offset in range(0, len(data), 2):
            did = int.from_bytes(data[offset:offset + 2], "big")
            reader = self.identifiers.get(did)
            if reader is None:
                return Response(ReadDataByIdentifier, Response.Code.RequestOutOfRange)
            out += did.to_bytes(2, "big") + reader()
        return Response(ReadDataByIdentifier, Response.Code.PositiveResponse, data=out)
