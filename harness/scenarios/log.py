"""The scenario log: what the harness injected and when, in wall and vehicle time, as JSON lines.

It is context for a reader of the evidence; verdicts never rest on it, only on captured traffic."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from harness.scenarios.clock import VehicleClock


class ScenarioLog:
    def __init__(self, clock: VehicleClock) -> None:
        self.clock = clock
        self._entries: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def record(self, event: str, **details: Any) -> None:
        entry = {"time": round(time.time(), 6), "vehicle_time": round(self.clock.now(), 3), "event": event, **details}
        with self._lock:
            self._entries.append(entry)

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def write(self, path: Path) -> None:
        with path.open("w", encoding="utf-8") as out:
            for entry in self.entries():
                out.write(json.dumps(entry, sort_keys=True, default=str) + "\n")
