"""Is a (latitude, longitude) near the vehicle's track around a time? A grid of cells the track
passes (with neighbours) rejects almost every candidate in one vectorised look-up; the few left are
measured against the track points within the time window."""

from __future__ import annotations

import math

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
        if not len(track):
            self.cells = np.empty(0, dtype=np.int64)
            self.lat_range = self.lon_range = (1.0, -1.0)
            return
        cos_min = max(math.cos(math.radians(min(float(np.abs(track.lat).max()) + self.cell, 89.9))), 1e-3)
        reach = math.ceil(1 / cos_min)  # a cell is narrower in metres along longitude
        lat_cells = np.floor(track.lat / self.cell).astype(np.int64)
        lon_cells = np.floor(track.lon / self.cell).astype(np.int64)
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
        """Within the tolerance of a track point whose time is within the window of `time`."""
        if self.timed and time is not None:
            lo = int(np.searchsorted(self.times, time - self.window_s, side="left"))
            hi = int(np.searchsorted(self.times, time + self.window_s, side="right"))
            if lo >= hi:
                return False
            lats, lons = self.lat[lo:hi], self.lon[lo:hi]
        else:
            lats, lons = self.lat, self.lon
        dlat = (lats - lat) * METRES_PER_DEGREE
        dlon = (lons - lon) * METRES_PER_DEGREE * math.cos(math.radians(lat))
        return bool((dlat * dlat + dlon * dlon).min() <= self.tolerance_m ** 2)


def _key(lat_cells: np.ndarray, lon_cells: np.ndarray) -> np.ndarray:
    return (lat_cells << 32) + (lon_cells & 0xFFFFFFFF)
