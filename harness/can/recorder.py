"""CAN recording: every frame on the bus with its receive time, as the evidence of CAN traffic.

A listener on its own bus socket, like a logger tapped onto the wire; the frames later join the
Ethernet capture in one pcapng on one timeline."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path

import can

from harness.can.bus_errors import exception_frame, state_frame


@dataclass(frozen=True)
class CanFrame:
    timestamp: float
    arbitration_id: int
    data: bytes
    is_extended_id: bool = False
    is_error_frame: bool = False


class CanRecorder(can.Listener):
    def __init__(self) -> None:
        self._frames: list[CanFrame] = []
        self._lock = threading.Lock()
        self.errors: list[str] = []

    def on_message_received(self, msg: can.Message) -> None:
        frame = CanFrame(msg.timestamp, msg.arbitration_id, bytes(msg.data), msg.is_extended_id,
                         msg.is_error_frame)
        with self._lock:
            self._frames.append(frame)

    def on_error(self, exc: Exception) -> None:
        # the interface stopped delivering frames for a moment: the recording says so as an error frame
        self.errors.append(str(exc))
        self._error_frame(*exception_frame(exc))

    def note_state(self, state: can.BusState) -> None:
        """Record a bus state an interface reports outside its frames (error-passive, bus-off)."""
        frame = state_frame(state)
        if frame is not None:
            self._error_frame(*frame)

    def _error_frame(self, classes: int, data: bytes) -> None:
        with self._lock:
            self._frames.append(CanFrame(time.time(), classes, data, is_error_frame=True))

    def frames(self, since: float = 0.0) -> list[CanFrame]:
        with self._lock:
            return [f for f in self._frames if f.timestamp >= since]

    def count(self) -> int:
        """Frames recorded so far: a position to read on from with `after`."""
        with self._lock:
            return len(self._frames)

    def after(self, position: int) -> list[CanFrame]:
        """The frames recorded since `count()` returned `position`, in the order they arrived (a
        frame may arrive after one stamped later, when the kernel delivered them from two CPUs)."""
        with self._lock:
            return self._frames[position:]

    def clear(self) -> None:
        with self._lock:
            self._frames.clear()


def write_candump(frames: list[CanFrame], path: Path, channel: str = "can0") -> None:
    """candump -l format, which python-can, can-utils and Wireshark's importers read."""
    with path.open("w", encoding="ascii") as out:
        for f in frames:
            ident = f"{f.arbitration_id:08X}" if f.is_extended_id else f"{f.arbitration_id:03X}"
            out.write(f"({f.timestamp:.6f}) {channel} {ident}#{f.data.hex().upper()}\n")
