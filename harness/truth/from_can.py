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


STEP_M = 5.0      # a fix closer than this to the last one kept adds nothing a 100 m tolerance could use
STEP_S = 10.0     # ... unless this much time has passed (the time window needs points at every moment)


def track_from_can(records: Iterable[_Record]) -> Track:
    points: list[tuple[float | None, float, float]] = []
    kept: tuple[float, float, float] | None = None
    step = STEP_M / 111_320.0
    for record in records:
        lat, lon = record.values.get(LATITUDE), record.values.get(LONGITUDE)
        if not isinstance(lat, int | float) or not isinstance(lon, int | float) or (lat, lon) == (0, 0):
            continue
        if kept is not None and record.time - kept[0] < STEP_S and abs(lat - kept[1]) < step \
                and abs(lon - kept[2]) < step:
            continue
        kept = (record.time, float(lat), float(lon))
        points.append(kept)
    return Track.of(points)
