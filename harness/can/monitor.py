"""A live view of the bus: the latest value of every abstract signal, and waiting on conditions.

Scenario code waits for what the ECU shows ("the update notice is on screen") instead of
sleeping; the recorder, not this monitor, is the evidence."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import can

from harness.can.codec import Value, VehicleCodec


class SignalMonitor(can.Listener):
    def __init__(self, codec: VehicleCodec) -> None:
        self.codec = codec
        self._values: dict[str, Value] = {}
        self._seen: dict[str, float] = {}
        self._condition = threading.Condition()
        self._multiplexed: dict[str, dict[int, dict[str, Value]]] = {}

    def on_message_received(self, msg: can.Message) -> None:
        decoded = self.codec.decode(msg.arbitration_id, bytes(msg.data))
        if decoded is None:
            return
        name, values = decoded
        with self._condition:
            self._values.update(values)
            self._seen[name] = msg.timestamp or time.time()
            self._condition.notify_all()

    def value(self, name: str, default: Any = None) -> Any:
        with self._condition:
            return self._values.get(name, default)

    def snapshot(self) -> Mapping[str, Value]:
        with self._condition:
            return dict(self._values)

    def last_seen(self, message: str) -> float | None:
        with self._condition:
            return self._seen.get(message)

    def wait_for(self, predicate: Callable[[Mapping[str, Value]], bool], timeout: float) -> bool:
        """True once predicate(values) holds; False after `timeout` wall seconds."""
        deadline = time.monotonic() + timeout
        with self._condition:
            while not predicate(self._values):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
            return True

    def wait_message(self, message: str, timeout: float, after: float = 0.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._condition:
            while (self._seen.get(message) or 0.0) <= after:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._condition.wait(remaining)
            return True
