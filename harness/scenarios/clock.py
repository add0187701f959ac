"""Vehicle time: the clock the harness broadcasts on CAN, faster than wall time on a virtual rig.

The ECU follows the GlobalTimeSync it receives, so a 20-minute installation can be played in
seconds; `advance` jumps the clock forward like a discrete-event simulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class VehicleClock:
    def __init__(self, scale: float = 1.0, epoch: float | None = None) -> None:
        self.scale = scale
        self._epoch = time.time() if epoch is None else epoch
        self._wall0 = time.monotonic()
        self._offset = 0.0
        self._lock = threading.Lock()
        self._on_jump: list[Callable[[], None]] = []

    def now(self) -> float:
        """Vehicle time in seconds since the Unix epoch."""
        with self._lock:
            return self._epoch + self._offset + (time.monotonic() - self._wall0) * self.scale

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        """Jump vehicle time forward without waiting (the ECU sees it on the next sync frame, at once
        where the rig sends one on every jump)."""
        with self._lock:
            self._offset += seconds
        for announce in self._on_jump:
            announce()

    def on_jump(self, announce: Callable[[], None]) -> None:
        """Call `announce` after every jump (the rig puts a sync frame on the bus)."""
        self._on_jump.append(announce)

    @contextmanager
    def slowed(self, scale: float) -> Iterator[None]:
        """Run vehicle time at `scale` for a while (a short phase stays on the bus long enough to judge)."""
        before = self.scale
        self._rescale(scale)
        try:
            yield
        finally:
            self._rescale(before)

    def _rescale(self, scale: float) -> None:
        with self._lock:
            wall = time.monotonic()
            self._offset += (wall - self._wall0) * self.scale
            self._wall0, self.scale = wall, scale

    def sleep(self, seconds: float) -> None:
        """Let `seconds` of vehicle time pass."""
        time.sleep(max(0.0, seconds / self.scale))

    def wall(self, seconds: float) -> float:
        """How long `seconds` of vehicle time take on the wall clock."""
        return seconds / self.scale
