"""Is a (latitude, longitude) near the vehicle's track around a time? A grid of cells the track
passes (with neighbours) rejects almost every candidate in one vectorised look-up; the few left are
measured against the track points within the time window."""

from __future__ import annotations

import functools
import math
import re

import numpy as np

from harness.truth.model import GroundTruth

METRES_PER_DEGREE = 111_320.0


class TrackIndex:
    def __init__(self, truth: GroundTruth) -> None:
        track = truth.track
        self.tolerance_m, self.window_s = truth.tolerance_m, truth.window_s
        self.times, self.lat, self.lon = track.times, track.lat, track.lon
        self.timed = bool(len(track)) and not np.isnan(track.times).any()
        self.cell = max(truth.tolerance_m / METRES_PER_DEGREE, 1e-6)  # degrees of latitude per cell
        self._cell_set: set[int] | None = None
        if not len(track):
            self.cells = np.empty(0, dtype=np.int64)
            self.lat_range = self.lon_range = (1.0, -1.0)
            return
        cos_min = max(math.cos(math.radians(min(float(np.abs(track.lat).max()) + self.cell, 89.9))), 1e-3)
        reach = math.ceil(1 / cos_min)  # a cell is narrower in metres along longitude
        lat_cells = np.floor(track.lat / self.cell).astype(np.int64)
        lon_cells = np.floor(track.lon / self.cell).astype(np.int64)
        self.reach = reach
        self._offsets = sorted(((dlat, dlon) for dlat in (-1, 0, 1) for dlon in range(-reach, reach + 1)),
                               key=lambda d: abs(d[0]) + abs(d[1]))
        # cell -> (time, lat, lon) of the track points in it, as plain floats: a look-up measures a few
        # points, where numpy's per-call cost would dominate
        self._points: dict[int, list[tuple[float, float, float]]] = {}
        for cell, t, a, o in zip(_key(lat_cells, lon_cells).tolist(), track.times.tolist(), track.lat.tolist(),
                                 track.lon.tolist(), strict=True):
            self._points.setdefault(cell, []).append((t, a, o))
        keys = []
        for dlat in (-1, 0, 1):
            for dlon in range(-reach, reach + 1):
                keys.append(_key(lat_cells + dlat, lon_cells + dlon))
        self.cells = np.unique(np.concatenate(keys))
        margin = self.cell * (reach + 1)
        self.lat_range = (float(track.lat.min()) - self.cell * 2, float(track.lat.max()) + self.cell * 2)
        self.lon_range = (float(track.lon.min()) - margin, float(track.lon.max()) + margin)

    def __bool__(self) -> bool:
        return bool(len(self.lat))

    @functools.cached_property
    def number_pattern(self) -> re.Pattern[bytes]:
        """Numbers in text whose whole-degree part a coordinate of the track can have, written as
        degrees or scaled by 1e5-1e7: the regex engine skips every other number without Python."""
        parts: set[str] = set()
        for lo, hi in (self.lat_range, self.lon_range):
            if hi - lo > 60:
                return _ANY_NUMBER  # a track across half the globe: filter in Python instead
            if hi >= 0:
                parts |= {str(n) for n in range(math.floor(max(lo, 0.0)), math.floor(hi) + 1)}
            if lo < 0:
                parts |= {f"-{n}" for n in range(math.floor(-min(hi, 0.0)), math.floor(-lo) + 1)}
                parts.add("-0")
        if not parts:
            return re.compile(rb"(?!)")
        wholes = "|".join(sorted((re.escape(p) for p in parts), key=len, reverse=True))
        return re.compile(rf"(?<![\w.])(?:{wholes})(?:\.\d{{1,17}}|\d{{5,7}})(?![\w.])".encode())

    def plausible_one(self, lat: float, lon: float) -> bool:
        """`plausible` for one candidate, without numpy's per-call cost (text has few numbers)."""
        if not (self.lat_range[0] <= lat <= self.lat_range[1] and self.lon_range[0] <= lon <= self.lon_range[1]):
            return False
        if self._cell_set is None:
            self._cell_set = set(self.cells.tolist())
        key = (math.floor(lat / self.cell) << 32) + (math.floor(lon / self.cell) & 0xFFFFFFFF)
        return key in self._cell_set

    def plausible(self, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
        """A cheap mask of candidates that may be near the track (no false negatives)."""
        inside = (lat >= self.lat_range[0]) & (lat <= self.lat_range[1]) & \
            (lon >= self.lon_range[0]) & (lon <= self.lon_range[1])
        if not inside.any():
            return inside
        keys = _key(np.floor(lat[inside] / self.cell).astype(np.int64),
                    np.floor(lon[inside] / self.cell).astype(np.int64))
        result = np.zeros_like(inside)
        result[np.flatnonzero(inside)] = np.isin(keys, self.cells)
        return result

    def near(self, lat: float, lon: float, time: float | None) -> bool:
        """Within the tolerance of a track point whose time is within the window of `time`: only the
        points of the neighbouring cells are measured."""
        lat_cell, lon_cell = math.floor(lat / self.cell), math.floor(lon / self.cell)
        timed = self.timed and time is not None
        early, late = (time - self.window_s, time + self.window_s) if timed else (0.0, 0.0)  # type: ignore[operator]
        stretch = math.cos(math.radians(lat))
        limit = (self.tolerance_m / METRES_PER_DEGREE) ** 2
        points = self._points
        for dlat, dlon in self._offsets:  # the candidate's own cell first: that is where a match usually is
            for t, a, o in points.get(((lat_cell + dlat) << 32) + ((lon_cell + dlon) & 0xFFFFFFFF), ()):
                if timed and not early <= t <= late:
                    continue
                if (a - lat) ** 2 + ((o - lon) * stretch) ** 2 <= limit:
                    return True
        return False


_ANY_NUMBER = re.compile(rb"(?<![\w.])-?\d{1,10}(?:\.\d{1,17})?(?![\w.])")


def _key(lat_cells: np.ndarray, lon_cells: np.ndarray) -> np.ndarray:
    return (lat_cells << 32) + (lon_cells & 0xFFFFFFFF)
