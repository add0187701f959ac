"""Named states of the rest of the vehicle that matter to an update (parked, driving, low energy,
charging), and the power faults the harness can inflict: a supply dip on CAN and a power cut.

Tests and the update state machine reach these states by name, so both mean the same thing by
"parked with too little energy"; a state reaches the bus whole, never through a safer transient."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from harness.can.codec import Value
from harness.can.monitor import SignalMonitor
from harness.errors import RigError
from harness.scenarios.vehicle import Vehicle

_PARKED: dict[str, Value] = {"vehicle.speed_kph": 0.0, "vehicle.gear": "P", "vehicle.parking_brake": "Applied",
                             "battery.soc_pct": 80.0, "battery.charging_state": "NotCharging",
                             "battery.cable_connected": 0, "battery.lv_voltage": 12.6}
LOW_SOC = 12.0

VEHICLE_STATES: dict[str, dict[str, Value]] = {
    "parked": dict(_PARKED),
    "driving": {**_PARKED, "vehicle.speed_kph": 50.0, "vehicle.gear": "D", "vehicle.parking_brake": "Released"},
    "parked-low-energy": {**_PARKED, "battery.soc_pct": LOW_SOC},
    "charging-low-energy": {**_PARKED, "battery.soc_pct": LOW_SOC, "battery.charging_state": "ChargingAC",
                            "battery.cable_connected": 1},
    "parked-brake-released": {**_PARKED, "vehicle.parking_brake": "Released"},
    "stopped-in-drive": {**_PARKED, "vehicle.gear": "D", "vehicle.parking_brake": "Released"},
    "creeping-in-drive": {**_PARKED, "vehicle.speed_kph": 3.0, "vehicle.gear": "D",
                          "vehicle.parking_brake": "Released"},
    "stopped-in-neutral": {**_PARKED, "vehicle.gear": "N"},
}
MOTION = ("vehicle.speed_kph", "vehicle.gear", "vehicle.parking_brake")


def situation(state: str, signals: tuple[str, ...] | None = None) -> dict[str, dict[str, Value]]:
    """A named state as a situation a check confirms: `{name: its signals}` (all, or `signals`)."""
    values = VEHICLE_STATES[state]
    return {state: {k: v for k, v in values.items() if signals is None or k in signals}}
SAFE_STATES = frozenset({"parked", "charging-low-energy"})
SUPPLY_V, DIP_V = 12.6, 7.5
DIP_TICKS = 2  # ECU ticks with the supply down: one would do, a second covers a frame it saw late


# How much each value lets an update or a programming session go ahead (higher permits more). The
# rules are monotone in every signal, so a change applied in two steps, first every signal that
# permits less, then every one that permits more, never passes through a state that permits more
# than where it started and where it ends: the ECU cannot act on a transient the state never had.
_PERMITS: dict[str, Callable[[Any], float]] = {
    "vehicle.speed_kph": lambda v: -float(v),
    "vehicle.gear": lambda v: 1.0 if v == "P" else 0.0,
    "vehicle.parking_brake": lambda v: 1.0 if v == "Applied" else 0.0,
    "battery.soc_pct": float,
    "battery.charging_state": lambda v: 1.0 if v in ("ChargingAC", "ChargingDC") else 0.0,
    "battery.cable_connected": float,
    "battery.lv_voltage": float,
}


def put(vehicle: Vehicle, state: str, monitor: SignalMonitor) -> None:
    """Bring the rest of the vehicle into a named state and return once the bus shows all of it."""
    try:
        values = VEHICLE_STATES[state]
    except KeyError:
        raise ValueError(f"unknown vehicle state {state!r}; known: {', '.join(VEHICLE_STATES)}") from None
    vehicle.stop_driving()
    change(vehicle, state, values, monitor)


def change(vehicle: Vehicle, event: str, values: Mapping[str, Value], monitor: SignalMonitor) -> None:
    """Put `values` on the bus as one change: what permits less first, then what permits more,
    each step sent at once and shown on the bus before the next (see _PERMITS)."""
    vehicle.log.record(event, **values)
    current = monitor.snapshot()
    first = {k: v for k, v in values.items() if k in _PERMITS and k in current
             and _PERMITS[k](v) < _PERMITS[k](current[k])}
    rest = {k: v for k, v in values.items() if k not in first}
    for step in (first, rest):
        if step:
            vehicle.tx.set(step)
            # at once, not at the messages' next cycles: every listener has it when the bus shows it
            vehicle.tx.send_now(*sorted({monitor.codec.ref(name).message for name in step}))
            _shown(monitor, step)


def supply_dip(vehicle: Vehicle, monitor: SignalMonitor, volts: float = DIP_V,
               tick: Callable[[], None] | None = None) -> None:
    """The low-voltage supply collapses below what an installation can run on, then comes back.
    `tick` lets the ECU act once on the bus as it is (on a virtual rig, a moment of vehicle time it
    answers); without it, the dip lasts a few of a real ECU's ticks of wall time."""
    change(vehicle, "supply_dip", {"battery.lv_voltage": volts}, monitor)
    if tick is None:
        time.sleep(0.03)
    else:
        for _ in range(DIP_TICKS):
            tick()
    change(vehicle, "supply_restored", {"battery.lv_voltage": SUPPLY_V}, monitor)


def _shown(monitor: SignalMonitor, values: dict[str, Value], timeout: float = 3.0) -> None:
    # wall time for our own frames to come back off the bus: returns at once when they do, and a
    # loaded 2-core machine has been seen to need more than half a second
    def on_bus(current: Any) -> bool:
        return all(_same(current.get(k), v) for k, v in values.items())

    if not monitor.wait_for(on_bus, timeout):
        raise RigError(f"the rest of the vehicle did not reach {sorted(values)} on the bus within {timeout} s")


def _same(seen: Any, wanted: Value) -> bool:
    if isinstance(wanted, float | int) and isinstance(seen, float | int):
        return abs(float(seen) - float(wanted)) < 0.06
    return seen == wanted


def power_cycle(ecu: Any, vehicle: Vehicle, off_s: float = 0.2) -> None:
    """Cut the ECU's power (nothing flushed) and switch it on again."""
    if not hasattr(ecu, "power_cut"):
        raise RigError("this rig cannot cut the ECU's power (no power switch configured)")
    vehicle.log.record("power_cut")
    ecu.power_cut()
    time.sleep(off_s)
    ecu.start()
    vehicle.log.record("power_on")
