"""How the reference vECU honours privacy: the owner's switches read live from CAN right before
anything is sent, and positions coarsened to the precision each endpoint's declared purpose allows.

The declared purposes are the maker's own declaration (the rig's netmap), so the vehicle and the
harness read the same document."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from harness.policy.netmap import Netmap
from harness.rig.config import Endpoint

METRES_PER_DEGREE = 111_320.0
LON_STRETCH = 2.0  # 1/cos(60 deg): a longitude step this much wider stays >= the precision up to 60 deg latitude


LATE_S = 3.0  # seeded defect: location keeps flowing this many vehicle seconds after a withdrawal


class OwnerSwitches:
    """The privacy switches as the ECU last received them; read at the moment of sending so a
    withdrawal takes effect within one tick."""

    def __init__(self, read: Callable[[str], Any], now: Callable[[], float] | None = None,
                 defects: Collection[str] = ()) -> None:
        self._read, self._now = read, now
        # seeded defect: a withdrawal of location sharing takes effect LATE_S after it arrives, just
        # beyond the latency the rule allows, so only a withdrawal shortly before an upload shows it
        self._late = {"consent.location": LATE_S} if "consent-latency-slightly-late" in defects else {}
        self._last_on: dict[str, float] = {}

    def value(self, signal: str) -> str:
        return str(self._read(signal))

    def follow(self) -> None:
        """Called every tick: when each late switch was last seen on."""
        if self._now is None:
            return
        for signal in self._late:
            if self.value(signal) == "On":
                self._last_on[signal] = self._now()

    def on(self, signal: str) -> bool:
        if self.value(signal) == "On":
            return True
        grace, last = self._late.get(signal), self._last_on.get(signal)
        if grace is None or last is None or self._now is None:
            return False
        return 0.0 <= self._now() - last < grace


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
