"""The rest of the vehicle, as the harness plays it on CAN: motion, gear, brake, battery, GNSS,
the owner's privacy switches, and drive cycles along a route.

Tests bring the vehicle into a state through these verbs (park, drive, charge) instead of
poking individual signals."""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from harness.can.cyclic import CyclicTransmitter
from harness.scenarios.clock import VehicleClock
from harness.scenarios.log import ScenarioLog


@dataclass(frozen=True)
class Waypoint:
    latitude: float
    longitude: float


def distance_m(a: Waypoint, b: Waypoint) -> float:
    """Great-circle distance (haversine), precise enough for a drive cycle."""
    lat1, lat2 = math.radians(a.latitude), math.radians(b.latitude)
    dlat, dlon = lat2 - lat1, math.radians(b.longitude - a.longitude)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


class Vehicle:
    def __init__(self, tx: CyclicTransmitter, clock: VehicleClock, log: ScenarioLog) -> None:
        self.tx, self.clock, self.log = tx, clock, log
        self._drive: threading.Thread | None = None
        self._stop_drive = threading.Event()

    def set(self, event: str, **values: Any) -> None:
        self.tx.set(values)
        self.log.record(event, **values)

    def set_now(self, event: str, **values: Any) -> None:
        """Like `set`, with the frames carrying the values on the bus at once, as an IVI sends a
        change: a test at a boundary needs the moment of the change, not the message's next cycle."""
        self.set(event, **values)
        self.tx.send_now(*self.tx.codec.to_dbc(values))

    def reset(self, position: Waypoint = Waypoint(31.2304, 121.4737)) -> None:
        """Parked, ignition on, charged, GNSS fixed, privacy switches off (the factory default)."""
        self.stop_driving()
        self.set("reset", **{
            "vehicle.speed_kph": 0.0, "vehicle.gear": "P", "vehicle.parking_brake": "Applied",
            "vehicle.ignition": "On", "battery.soc_pct": 80.0, "battery.usable_capacity_kwh": 75.0,
            "battery.charging_state": "NotCharging", "battery.cable_connected": 0, "battery.lv_voltage": 12.6,
            "gnss.latitude_deg": position.latitude, "gnss.longitude_deg": position.longitude,
            "gnss.fix": "Fix3D", "gnss.satellites": 12, "gnss.heading_deg": 0.0, "gnss.altitude_m": 10.0,
            "consent.location": "Off", "consent.cabin_camera": "Off", "consent.voice": "Off",
        })

    def park(self) -> None:
        self.stop_driving()
        self.set("park", **{"vehicle.speed_kph": 0.0, "vehicle.gear": "P", "vehicle.parking_brake": "Applied"})

    def drive(self, speed_kph: float) -> None:
        self.set("drive", **{"vehicle.parking_brake": "Released", "vehicle.gear": "D",
                             "vehicle.speed_kph": speed_kph})

    def consent(self, **switches: bool) -> None:
        """consent(location=True, cabin_camera=False, voice=False): the owner's privacy settings."""
        self.set("consent", **{f"consent.{name}": "On" if on else "Off" for name, on in switches.items()})

    def position(self, point: Waypoint) -> None:
        self.tx.set({"gnss.latitude_deg": point.latitude, "gnss.longitude_deg": point.longitude})

    def drive_route(self, route: Sequence[Waypoint], speed_kph: float) -> None:
        """Drive along `route` at `speed_kph` in vehicle time, in the background; park at the end."""
        self.stop_driving()
        self._stop_drive.clear()
        self.drive(speed_kph)
        self.log.record("route", waypoints=[(p.latitude, p.longitude) for p in route], speed_kph=speed_kph)
        self._drive = threading.Thread(target=self._follow, args=(list(route), speed_kph), daemon=True)
        self._drive.start()

    def _follow(self, route: list[Waypoint], speed_kph: float) -> None:
        speed = speed_kph / 3.6
        for start, end in zip(route, route[1:], strict=False):
            length = distance_m(start, end)
            began = self.clock.now()
            while not self._stop_drive.is_set():
                travelled = (self.clock.now() - began) * speed
                if travelled >= length:
                    break
                f = travelled / length
                self.position(Waypoint(start.latitude + f * (end.latitude - start.latitude),
                                       start.longitude + f * (end.longitude - start.longitude)))
                self._stop_drive.wait(0.02)
            if self._stop_drive.is_set():
                return
            self.position(end)
        self.set("arrived", **{"vehicle.speed_kph": 0.0, "vehicle.gear": "P", "vehicle.parking_brake": "Applied"})

    def wait_arrival(self, timeout: float) -> bool:
        if self._drive is None:
            return True
        self._drive.join(timeout)
        return not self._drive.is_alive()

    def stop_driving(self) -> None:
        self._stop_drive.set()
        if self._drive is not None:
            self._drive.join(timeout=2)
            self._drive = None
