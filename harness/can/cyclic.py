"""Cyclic transmission of DBC messages from abstract signal values, with alive counters.

Both sides of the virtual rig use it: the harness for the rest of the vehicle, the vECU for
its own messages. One scheduler thread sends every message on its cycle, and `send_now` puts a
change on the bus at once between cycles: every frame goes out under one lock, so the alive
counters of a message stay in order on the bus whoever sends it. A message can be held off the
bus for a while (`hold`), as when the node that sends it boots later than the ECU under test."""

from __future__ import annotations

import threading
import time
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
        self._send_lock = threading.Lock()
        self._due: dict[str, float] = {}
        self._held: set[str] = set()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

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

    def send_now(self, *names: str) -> None:
        """Send the next frame of each message now (in this order); its cycle starts again from here.
        A held message stays off the bus: its new values go out when it is released."""
        with self._send_lock:
            now = time.monotonic()
            for name in names:
                if name in self._held:
                    continue
                self.bus.send(self.frame(name))
                if name in self._due:
                    self._due[name] = now + self._period(name)

    def hold(self, *names: str) -> None:
        """Keep these messages off the bus (values set meanwhile are kept) until `release`; once this
        returns, no frame of them is being sent."""
        unknown = [n for n in names if n not in self.messages]
        if unknown:
            raise KeyError(f"{', '.join(unknown)} is not transmitted by this side of the bus")
        with self._send_lock:
            self._held.update(names)

    def release(self, *names: str) -> None:
        """Put held messages back on the bus at once (so the moment they appear is the moment of the
        call) and on their cycles from there; without names, every held message."""
        with self._send_lock:
            released = [n for n in self.messages if n in self._held and (not names or n in names)]
            self._held.difference_update(released)
        self.send_now(*released)

    @property
    def held(self) -> frozenset[str]:
        return frozenset(self._held)

    def _period(self, name: str) -> float:
        return float(self.messages[name].cycle_time or 0) / 1000.0

    def start(self) -> None:
        now = time.monotonic()
        self._due = {name: now for name, message in self.messages.items() if message.cycle_time}
        if not self._due:
            return
        self._stopped.clear()
        self._thread = threading.Thread(target=self._run, name="can-cyclic", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stopped.is_set():
            with self._send_lock:
                now = time.monotonic()
                due = sorted((when, name) for name, when in self._due.items() if when <= now)
                for _, name in due:
                    if name in self._held:
                        self._due[name] = now + self._period(name)
                        continue
                    try:
                        self.bus.send(self.frame(name))
                    except (can.CanError, OSError):
                        pass  # a bus that is going down; the next cycle tries again
                    # drift-free while on time; a late frame starts its cycle again from now
                    period = self._period(name)
                    self._due[name] = max(self._due[name] + period, now)
                upcoming = min(self._due.values(), default=None)
            self._stopped.wait(max(0.0, upcoming - time.monotonic()) if upcoming is not None else 0.1)

    def stop(self) -> None:
        self._stopped.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
            self._thread = None
        self._due.clear()
