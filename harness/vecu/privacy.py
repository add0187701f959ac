"""How the reference vECU honours privacy: the owner's switches read live from CAN right before
anything is sent, and positions coarsened to the precision each endpoint's declared purpose allows.

The declared purposes are the maker's own declaration (the rig's netmap), so the vehicle and the
harness read the same document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.policy.netmap import Netmap
from harness.rig.config import Endpoint

METRES_PER_DEGREE = 111_320.0
LON_STRETCH = 2.0  # 1/cos(60 deg): a longitude step this much wider stays >= the precision up to 60 deg latitude


class OwnerSwitches:
    """The privacy switches as the ECU last received them; read at the moment of sending so a
    withdrawal takes effect within one tick."""

    def __init__(self, read: Callable[[str], Any]) -> None:
        self._read = read

    def value(self, signal: str) -> str:
        return str(self._read(signal))

    def on(self, signal: str) -> bool:
        return self.value(signal) == "On"


def declared_precision(netmap: Netmap, endpoint: Endpoint) -> float | None:
    """The precision the endpoint's purposes allow for location (the coarsest declared), if any."""
    limits = [p.location_precision_m for p in netmap.purposes_of(endpoint.host) if "location" in p.categories]
    declared = [limit for limit in limits if limit is not None]
    return max(declared) if declared else None


def coarsen(latitude: float, longitude: float, precision_m: float | None) -> tuple[float, float]:
    """Snap a position to a fixed grid of `precision_m` metres (latitude) and at least that much
    (longitude, up to 60 degrees of latitude); without a declared precision, 1e-6 degree."""
    if precision_m is None:
        return round(latitude, 6), round(longitude, 6)
    lat_step = precision_m / METRES_PER_DEGREE
    lon_step = LON_STRETCH * precision_m / METRES_PER_DEGREE
    return (round(round(latitude / lat_step) * lat_step, 7), round(round(longitude / lon_step) * lon_step, 7))
