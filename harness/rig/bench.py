"""A bench rig: a real ECU on a CAN interface and a mirror port, optionally held in a labgrid place
that lends the CAN channel, the NIC and a power switch for the run.

The suites reach it through the same RigSession as the virtual rig; what differs is only where the
bus and the capture point are and how the ECU is (re)started."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from harness.errors import RigError
from harness.rig.config import Rig
from harness.rig.labgrid import LabgridPlace


class BenchRig:
    """Acquires what the rig file names (a labgrid place) and gives it back in `down()`."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.place: LabgridPlace | None = LabgridPlace(rig.labgrid) if rig.labgrid else None

    def up(self) -> Rig:
        """The rig as this run uses it: with the place's resources where it names a place."""
        if self.place is None:
            return self.rig
        self.place.acquire()
        try:
            resolved = self.place.apply(self.rig)
            if self.place.has_power:
                self.place.power("on")
        except BaseException:
            self.place.release()
            raise
        return resolved

    def down(self) -> None:
        if self.place is not None:
            self.place.release()

    @property
    def can_power_cycle(self) -> bool:
        return self.place is not None and self.place.has_power

    def power_cycle(self) -> None:
        if self.place is not None and self.place.has_power:
            self.place.power("cycle")


class BenchEcu:
    """The bench's ECU as the `vecu` fixture hands it to a test: power-cycled where the bench has a
    switch, so every test meets a freshly started ECU; alive while its status message keeps coming."""

    def __init__(self, bench: BenchRig, defects: tuple[str, ...], log_path: Path,
                 last_seen: Callable[[], float | None], alive_within: float) -> None:
        if defects:
            raise RigError(f"seeded defects ({', '.join(defects)}) exist only in the virtual ECU; "
                           "a bench runs its real ECU: drop --vecu-defect")
        self.bench, self.log_path = bench, log_path
        self._last_seen, self._alive_within = last_seen, alive_within
        self.pid: int | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        cycled = self.bench.can_power_cycle
        self.bench.power_cycle()
        self.log_path.write_text(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} bench ECU "
                                 f"{'power-cycled' if cycled else 'left running (no power switch)'}\n",
                                 encoding="utf-8")

    def alive(self) -> bool:
        seen = self._last_seen()
        return seen is not None and time.time() - seen <= self._alive_within

    def last_words(self) -> str:
        seen = self._last_seen()
        return "no status message from the ECU yet" if seen is None else \
            f"last status message {time.time() - seen:.1f} s ago"

    def stop(self) -> None:
        """The bench's ECU stays powered between tests; the next test cycles it."""
