"""UDS conversations read back from evidence: ISO-TP (ISO 15765-2) reassembled from the recorded
CAN frames, and DoIP (ISO 13400-2) diagnostic messages from captured TCP streams.

Each request is paired with the ECU's final answer (after any 0x78 responsePending), so a check
can judge what the ECU said and when, without asking the tester what it believes it saw."""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

from doipclient import messages as doip

from harness.net.evidence import CanRecord
from harness.net.flows import TCP, FlowTable

DOIP_HEADER = struct.Struct("!BBHI")
RESPONSE_PENDING = 0x78


@dataclass(frozen=True)
class UdsExchange:
    """One UDS request and the final response (None: the ECU never answered)."""

    transport: str              # "isotp" or "doip"
    time: float                 # when the request was complete on the wire
    request: bytes
    response: bytes | None
    response_time: float | None
    where: str                  # CAN ids or addresses, for the report

    @property
    def negative_code(self) -> int | None:
        r = self.response
        return r[2] if r is not None and len(r) >= 3 and r[0] == 0x7F else None

    @property
    def positive(self) -> bool:
        return self.response is not None and bool(self.request) and self.response[:1] == bytes([self.request[0] + 0x40])


def isotp_messages(records: Iterable[CanRecord], arbitration_id: int) -> list[tuple[float, bytes]]:
    """Complete ISO-TP messages (time of their last frame, payload) sent on one CAN id."""
    out: list[tuple[float, bytes]] = []
    buffer, expected, sequence = b"", 0, 0
    for record in records:
        if record.arbitration_id != arbitration_id or not record.data:
            continue
        data = record.data
        kind = data[0] >> 4
        if kind == 0:  # single frame (a zero length escapes to the CAN FD form)
            length, start = (data[0] & 0x0F, 1) if data[0] & 0x0F else (data[1] if len(data) > 1 else 0, 2)
            if 0 < length <= len(data) - start:
                out.append((record.time, bytes(data[start:start + length])))
            buffer, expected = b"", 0
        elif kind == 1 and len(data) >= 2:  # first frame
            expected = ((data[0] & 0x0F) << 8) | data[1]
            buffer, sequence = bytes(data[2:]), 1
        elif kind == 2 and expected:  # consecutive frame
            if data[0] & 0x0F != sequence & 0x0F:
                buffer, expected = b"", 0  # a frame was lost: this message cannot be trusted
                continue
            buffer += bytes(data[1:])
            sequence += 1
            if len(buffer) >= expected:
                out.append((record.time, buffer[:expected]))
                buffer, expected = b"", 0
    return out


def isotp_exchanges(records: list[CanRecord], request_id: int, response_id: int) -> list[UdsExchange]:
    where = f"can:0x{request_id:03X}->0x{response_id:03X}"
    return pair("isotp", isotp_messages(records, request_id), isotp_messages(records, response_id), where)


def pair(transport: str, requests: list[tuple[float, bytes]], responses: list[tuple[float, bytes]],
         where: str) -> list[UdsExchange]:
    """Each request with the first final response after it and before the next request."""
    exchanges: list[UdsExchange] = []
    answers = sorted(responses)
    for index, (time, request) in enumerate(requests):
        until = requests[index + 1][0] if index + 1 < len(requests) else float("inf")
        final = next(((t, r) for t, r in answers if time <= t < until
                      and not (len(r) >= 3 and r[0] == 0x7F and r[2] == RESPONSE_PENDING)), None)
        exchanges.append(UdsExchange(transport, time, request, final[1] if final else None,
                                     final[0] if final else None, where))
    return exchanges


def doip_exchanges(flows: FlowTable) -> list[UdsExchange]:
    """UDS over DoIP in every TCP flow whose client speaks DoIP (recognised by its header, any port)."""
    exchanges: list[UdsExchange] = []
    for flow in flows.flows.values():
        if flow.protocol != TCP:
            continue
        sent, _, sent_times = flow.to_server.stream_with_times()
        if not _looks_like_doip(sent):
            continue
        received, _, received_times = flow.to_client.stream_with_times()
        requests = [(t, bytes(m.user_data)) for t, m in _diagnostic_messages(sent, sent_times)]
        responses = [(t, bytes(m.user_data)) for t, m in _diagnostic_messages(received, received_times)]
        exchanges += pair("doip", requests, responses, f"{flow.client} -> {flow.server}")
    return sorted(exchanges, key=lambda e: e.time)


def _looks_like_doip(stream: bytes) -> bool:
    if len(stream) < DOIP_HEADER.size:
        return False
    version, inverse, kind, length = DOIP_HEADER.unpack_from(stream)
    return inverse == 0xFF ^ version and kind in doip.payload_type_to_message and length < 1 << 20


def _diagnostic_messages(stream: bytes, times: list[tuple[int, float]]) -> list[tuple[float, doip.DiagnosticMessage]]:
    """DoIP diagnostic messages in one direction, each with the capture time of its last byte."""
    out: list[tuple[float, doip.DiagnosticMessage]] = []
    offset = 0
    while offset + DOIP_HEADER.size <= len(stream):
        version, inverse, kind, length = DOIP_HEADER.unpack_from(stream, offset)
        end = offset + DOIP_HEADER.size + length
        if inverse != 0xFF ^ version or end > len(stream):
            break  # not DoIP any more, or cut off: what follows cannot be placed
        if kind == doip.DiagnosticMessage.payload_type and length >= 4:
            payload = bytearray(stream[offset + DOIP_HEADER.size:end])
            out.append((_time_at(times, end - 1), doip.DiagnosticMessage.unpack(payload, length)))
        offset = end
    return out


def _time_at(times: list[tuple[int, float]], offset: int) -> float:
    found = times[0][1] if times else 0.0
    for start, time in times:
        if start > offset:
            break
        found = time
    return found
