"""The OTA client's non-volatile memory: installed version, performance calibration and update
state in one JSON file, replaced atomically, so a power cut leaves either the old or the new record.

A vECU killed mid-update and started again reads it back and must come up on a working version."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class OtaStore:
    """A file in the per-test state directory; without a directory nothing survives a restart."""

    FILE = "ota-state.json"

    def __init__(self, directory: Path | None) -> None:
        self.path = directory / self.FILE if directory is not None else None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)

    def load(self) -> dict[str, Any] | None:
        if self.path is None or not self.path.is_file():
            return None
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None  # an unreadable record is treated like none: factory state
        return data if isinstance(data, dict) else None

    def save(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as out:
            json.dump(record, out, sort_keys=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
