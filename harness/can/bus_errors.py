"""CAN error frames as Linux SocketCAN encodes them (linux/can/error.h): what each class means, and
the frame the harness records when an interface reports a bus state or a receive error instead.

One encoding for every interface, so a bus-off on a PCAN adapter and on socketcan look the same in
the evidence and a check can judge either offline."""

from __future__ import annotations

from dataclasses import dataclass

import can

# error classes (the CAN id of an error frame)
TX_TIMEOUT, LOST_ARBITRATION, CONTROLLER, PROTOCOL = 0x001, 0x002, 0x004, 0x008
TRANSCEIVER, NO_ACK, BUS_OFF, BUS_ERROR, RESTARTED = 0x010, 0x020, 0x040, 0x080, 0x100
# data[1] of a controller error
CTRL_RX_OVERFLOW, CTRL_TX_OVERFLOW = 0x01, 0x02
CTRL_RX_WARNING, CTRL_TX_WARNING, CTRL_RX_PASSIVE, CTRL_TX_PASSIVE = 0x04, 0x08, 0x10, 0x20

_CLASSES = ((TX_TIMEOUT, "transmit timeout"), (LOST_ARBITRATION, "lost arbitration"),
            (CONTROLLER, "controller problem"), (PROTOCOL, "protocol violation"),
            (TRANSCEIVER, "transceiver status"), (NO_ACK, "no acknowledgement"), (BUS_OFF, "bus-off"),
            (BUS_ERROR, "bus error"), (RESTARTED, "controller restarted"))


@dataclass(frozen=True)
class CanError:
    """One error frame in the recording."""

    time: float
    classes: int
    data: bytes = b""

    @property
    def bus_off(self) -> bool:
        return bool(self.classes & BUS_OFF)

    def describe(self) -> str:
        names = [name for bit, name in _CLASSES if self.classes & bit]
        if self.classes & CONTROLLER and len(self.data) > 1:
            if self.data[1] & (CTRL_RX_PASSIVE | CTRL_TX_PASSIVE):
                names.append("error-passive")
            if self.data[1] & (CTRL_RX_OVERFLOW | CTRL_TX_OVERFLOW):
                names.append("buffer overflow")
        return ", ".join(names) or f"error class {self.classes:#x}"


def state_frame(state: can.BusState) -> tuple[int, bytes] | None:
    """The error frame equivalent to a python-can bus state, or None for a healthy bus."""
    if state is can.BusState.ERROR:
        return BUS_OFF, bytes(8)
    if state is can.BusState.PASSIVE:
        return CONTROLLER, bytes([0, CTRL_RX_PASSIVE | CTRL_TX_PASSIVE, 0, 0, 0, 0, 0, 0])
    return None


def exception_frame(exc: BaseException) -> tuple[int, bytes]:
    """The error frame for an interface that raised while receiving: bus-off if it says so,
    otherwise a controller problem (frames may have been lost)."""
    text = str(exc).lower().replace("_", "").replace(" ", "").replace("-", "")
    if "busoff" in text:
        return BUS_OFF, bytes(8)
    return CONTROLLER, bytes([0, CTRL_RX_OVERFLOW, 0, 0, 0, 0, 0, 0])
