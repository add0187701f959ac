"""The vehicle's track as the capture's CAN shows it: every GNSS position frame, decoded with the
rig's DBC and signal mapping, at its capture time. What the harness sent is what the ECU knew."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from harness.truth.model import Track

LATITUDE, LONGITUDE = "gnss.latitude_deg", "gnss.longitude_deg"


class _Record(Protocol):
    @property
    def time(self) -> float: ...

    @property
    def values(self) -> Mapping[str, object]: ...


def track_from_can(records: Iterable[_Record]) -> Track:
    points: list[tuple[float | None, float, float]] = []
    last: tuple[float, float] | None = None
    for record in records:
        lat, lon = record.values.get(LATITUDE), record.values.get(LONGITUDE)
        if not isinstance(lat, int | float) or not isinstance(lon, int | float) or (lat, lon) == (0, 0):
            continue
        position = (float(lat), float(lon))
        if position == last and points and record.time - (points[-1][0] or 0.0) < 1.0:
            continue  # the same fix repeated within a second adds nothing but work
        points.append((record.time, *position))
        last = position
    return Track.of(points)
