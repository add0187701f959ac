"""The situations a test promises to put the vehicle in, as data its check confirms from the evidence:
a named partial vehicle state ("parked at 12 %": gear P, brake applied, SOC 12, not charging).

A situation the recording never showed the ECU deciding in makes the verdict `inconclusive`, naming
it: a pass means the behaviour was seen, not that nothing bad was seen."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.checks.ota_timeline import VehicleTimeline
from harness.findings import Finding, Verdict
from harness.net.evidence import CanRecord

TOLERANCE = 0.06  # the DBC's resolution of speed, charge and voltage is 0.1 or finer


@dataclass(frozen=True)
class Situation:
    name: str
    state: Mapping[str, Any]

    def holds(self, vehicle: Mapping[str, Any]) -> bool:
        return all(name in vehicle and _same(vehicle[name], wanted) for name, wanted in self.state.items())


def parse_situations(raw: Mapping[str, Mapping[str, Any]] | None) -> list[Situation]:
    """`{"parked at 12 %": {"vehicle.gear": "P", "battery.soc_pct": 12.0, ...}}` as Situations."""
    return [Situation(name, dict(state)) for name, state in (raw or {}).items()]


def seen_at(can: Iterable[CanRecord], promised: Iterable[Situation], times: Iterable[float]) -> set[str]:
    """The names of the promised situations the vehicle (as CAN shows it) was in at one of `times`."""
    promised, times = list(promised), list(times)
    timeline = VehicleTimeline(can, {name for s in promised for name in s.state})
    return {s.name for s in promised if any(s.holds(timeline.at(t)) for t in times)}


def unseen(check: str, clause: str, promised: Iterable[Situation], seen: set[str], what: str) -> list[Finding]:
    """An inconclusive finding for every promised situation the evidence never showed."""
    return [Finding(check, Verdict.INCONCLUSIVE, clause, f"the situation {s.name!r} ({_shown(s.state)}) never "
                    f"came about: {what}", protocol="can") for s in promised if s.name not in seen]


def _same(seen: Any, wanted: Any) -> bool:
    if isinstance(wanted, int | float) and not isinstance(wanted, bool) and isinstance(seen, int | float):
        return abs(float(seen) - float(wanted)) < TOLERANCE
    return str(seen) == str(wanted)


def _shown(state: Mapping[str, Any]) -> str:
    return ", ".join(f"{name.split('.')[-1]} {value}" for name, value in state.items())
