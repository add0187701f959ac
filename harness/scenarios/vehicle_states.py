"""Named states of the rest of the vehicle that matter to an update (parked, driving, low energy,
charging), and the power faults the harness can inflict: a supply dip on CAN and a power cut.

Tests and the update state machine reach these states by name, so both mean the same thing by
"parked with too little energy"."""

from __future__ import annotations

import time
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
}
SAFE_STATES = frozenset({"parked", "charging-low-energy"})
SUPPLY_V, DIP_V = 12.6, 7.5


def put(vehicle: Vehicle, state: str, monitor: SignalMonitor | None = None) -> None:
    """Bring the rest of the vehicle into a named state (on the bus within a cycle; with `monitor`,
    return once the bus shows it)."""
    try:
        values = VEHICLE_STATES[state]
    except KeyError:
        raise ValueError(f"unknown vehicle state {state!r}; known: {', '.join(VEHICLE_STATES)}") from None
    vehicle.stop_driving()
    vehicle.set(state, **values)
    if monitor is not None:
        _shown(monitor, values)


def supply_dip(vehicle: Vehicle, monitor: SignalMonitor, volts: float = DIP_V) -> None:
    """The low-voltage supply collapses below what an installation can run on, then comes back."""
    vehicle.set("supply_dip", **{"battery.lv_voltage": volts})
    _shown(monitor, {"battery.lv_voltage": volts})
    time.sleep(0.03)  # a few of the ECU's ticks with the supply down
    vehicle.set("supply_restored", **{"battery.lv_voltage": SUPPLY_V})
    _shown(monitor, {"battery.lv_voltage": SUPPLY_V})


def _shown(monitor: SignalMonitor, values: dict[str, Value], timeout: float = 0.5) -> None:
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
