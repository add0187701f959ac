"""Cyclic transmission of DBC messages from abstract signal values, with alive counters.

Both sides of the virtual rig use it: the harness for the rest of the vehicle, the vECU for
its own messages. Timing comes from python-can's periodic send tasks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import can
from cantools.database.can import Message

from harness.can.codec import Value, VehicleCodec


class CyclicTransmitter:
    """Keeps the current value of every signal and sends each message on its cycle time."""

    def __init__(self, bus: can.BusABC, codec: VehicleCodec, messages: Iterable[Message]) -> None:
        self.bus, self.codec = bus, codec
        self.messages = {m.name: m for m in messages}
        self._values = {name: codec.initial_values(m) for name, m in self.messages.items()}
        self._counters = dict.fromkeys(self.messages, 0)
        self._providers: dict[str, Callable[[], Value]] = {}
        self._lock = threading.Lock()
        self._tasks: list[can.broadcastmanager.CyclicSendTaskABC] = []

    def set(self, values: Mapping[str, Value]) -> None:
        """Set abstract signals; the next cycle of their messages carries the new values."""
        grouped = self.codec.to_dbc(values)
        with self._lock:
            for message, signals in grouped.items():
                if message not in self._values:
                    raise KeyError(f"{message} is not transmitted by this side of the bus")
                self._values[message].update(signals)

    def get(self, name: str) -> Any:
        ref = self.codec.ref(name)
        with self._lock:
            value = self._values[ref.message][ref.signal]
        return self.codec.from_dbc(name, value if isinstance(value, int | float) else str(value))

    def provide(self, name: str, provider: Callable[[], Value]) -> None:
        """Compute a signal at each transmission (the vehicle clock, for one)."""
        self._providers[name] = provider

    def frame(self, name: str) -> can.Message:
        """The next frame of message `name`, with providers applied and the counter advanced."""
        message = self.messages[name]
        dynamic = {k: p() for k, p in self._providers.items() if self.codec.ref(k).message == name}
        with self._lock:
            values = self._values[name]
            values.update(self.codec.to_dbc(dynamic).get(name, {}))
            counter = self.codec.counters.get(name)
            if counter is not None:
                values[counter] = self._counters[name]
                self._counters[name] = (self._counters[name] + 1) % (self.codec.counter_modulus(name) or 1)
            return self.codec.encode(message, values)

    def send_now(self, name: str) -> None:
        self.bus.send(self.frame(name))

    def start(self) -> None:
        for name, message in self.messages.items():
            if not message.cycle_time:
                continue
            first = self.frame(name)

            def refresh(msg: can.Message, name: str = name) -> None:
                msg.data[:] = self.frame(name).data

            task = self.bus.send_periodic(first, message.cycle_time / 1000.0, modifier_callback=refresh)
            self._tasks.append(task)

    def stop(self) -> None:
        for task in self._tasks:
            task.stop()
        self._tasks.clear()
