"""Cyclic-and-on-change transmission of the ECU's OTA messages, from the ECU's own loop: each goes
out on its cycle, and at once (all pages of a multiplexed one) when one of its values changes.

Without it a state shorter than one cycle (a jump of vehicle time finishing an installation within
a tick) would never reach the owner's screen, nor the evidence. One thread sends these messages, so
their alive counters stay in order on the bus."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from functools import partial
from typing import Any

import can

from harness.can.codec import VehicleCodec
from harness.can.cyclic import CyclicTransmitter


class Announcer:
    def __init__(self, bus: can.BusABC, codec: VehicleCodec, signals: Iterable[str],
                 pages: Mapping[str, tuple[str, int]] | None = None) -> None:
        self.codec = codec
        names = sorted({codec.ref(name).message for name in signals})
        self.tx = CyclicTransmitter(bus, codec, [codec.message(name) for name in names])
        # multiplexed message -> (its page signal, number of pages); pages rotate, one per frame
        self.pages = dict(pages or {})
        self._page = dict.fromkeys(self.pages, -1)
        for message, (signal, count) in self.pages.items():
            self.tx.provide(signal, partial(self._turn, message, count))
        self._last: dict[str, Any] = {}
        self._due = dict.fromkeys(names, 0.0)

    def _turn(self, message: str, count: int) -> int:
        self._page[message] = (self._page[message] + 1) % count
        return self._page[message]

    @property
    def messages(self) -> set[str]:
        return set(self.tx.messages)

    def publish(self, values: Mapping[str, Any], answer: Iterable[str] = ()) -> None:
        """Send what changed (and what is due); `answer`: messages this tick sends in any case (once:
        a second frame of one tick would pass for a later decision of the ECU)."""
        now = time.monotonic()
        sent: set[str] = set()
        changed = {self.codec.ref(name).message for name, value in values.items() if self._last.get(name) != value}
        self.tx.set(values)
        self._last.update(values)
        for name, message in self.tx.messages.items():
            if name in changed:
                # a changed multiplexed message starts over at page 0, which names what the other pages belong to
                frames = self.pages[name][1] if name in self.pages else 1
                if name in self.pages:
                    self._page[name] = -1
            elif now >= self._due[name]:
                frames = 1
            else:
                continue
            for _ in range(frames):
                self.tx.send_now(name)
            sent.add(name)
            self._due[name] = now + (message.cycle_time or 100) / 1000.0
        for name in answer:
            if name in sent:
                continue
            self.tx.send_now(name)
            self._due[name] = now + (self.tx.messages[name].cycle_time or 100) / 1000.0
