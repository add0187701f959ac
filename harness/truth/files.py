"""The ground-truth file (`--truth TRUTH.toml`, and `truth.toml` in each test's evidence) and its
track CSV: read with one-line errors naming the file and the problem, written in the same format.

Format (DESIGN.md): `vin`, `identity` (strings), `tolerance_m`, `window_s`, `[[position]]` tables of
`t` (optional unix time), `lat`, `lon`, or `track = "track.csv"` (columns t,lat,lon; t may be empty)."""

from __future__ import annotations

import csv
import math
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from harness.errors import ConfigError
from harness.truth.model import DEFAULT_TOLERANCE_M, DEFAULT_WINDOW_S, GroundTruth, Identifier, Track, identity, vin

_KEYS = {"vin", "identity", "tolerance_m", "window_s", "position", "track"}


def load_truth(path: Path | str) -> GroundTruth:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the truth file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not a TOML truth file: {exc}") from None
    truth = parse_truth(data, path)
    if truth.empty:
        raise ConfigError(f"{path}: no usable value: give vin, identity or positions ([[position]] or track)")
    return truth


def parse_truth(data: dict[str, Any], path: Path) -> GroundTruth:
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; known: {', '.join(sorted(_KEYS))}")
    identifiers: list[Identifier] = []
    if "vin" in data:
        value = data["vin"]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{path}: vin must be a non-empty string, got {value!r}")
        identifiers.append(vin(value.strip()))
    names = data.get("identity", [])
    if not isinstance(names, list) or not all(isinstance(n, str) and n.strip() for n in names):
        raise ConfigError(f"{path}: identity must be a list of non-empty strings, got {names!r}")
    identifiers += [identity(n.strip()) for n in names]
    tolerance = _positive(data, "tolerance_m", DEFAULT_TOLERANCE_M, path)
    window = _positive(data, "window_s", DEFAULT_WINDOW_S, path)
    points = [_position(entry, f"{path}: [[position]] #{i + 1}") for i, entry in enumerate(data.get("position", []))]
    if "track" in data:
        if not isinstance(data["track"], str):
            raise ConfigError(f"{path}: track must name a CSV file, got {data['track']!r}")
        points += load_track_csv(path.parent / data["track"])
    return GroundTruth(tuple(identifiers), Track.of(points), tolerance, window)


def _positive(data: dict[str, Any], key: str, default: float, path: Path) -> float:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0 or math.isinf(value):
        raise ConfigError(f"{path}: {key} must be a positive number, got {value!r}")
    return float(value)


def _position(entry: Any, where: str) -> tuple[float | None, float, float]:
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a table with lat, lon and optionally t")
    t = entry.get("t")
    return _point(t, entry.get("lat"), entry.get("lon"), where)


def _point(t: Any, lat: Any, lon: Any, where: str) -> tuple[float | None, float, float]:
    def number(value: Any, name: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise ConfigError(f"{where}: {name} must be a number, got {value!r}")
        return float(value)

    latitude, longitude = number(lat, "lat"), number(lon, "lon")
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise ConfigError(f"{where}: ({latitude}, {longitude}) is not a WGS84 position in degrees")
    return (None if t is None else number(t, "t")), latitude, longitude


def load_track_csv(path: Path) -> list[tuple[float | None, float, float]]:
    """Rows of t,lat,lon (a header row of those names is optional; t may be empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the track file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the track file is not UTF-8 text") from None
    points = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if number == 1 and [c.strip().lower() for c in row] == ["t", "lat", "lon"]:
            continue
        if len(row) != 3:
            raise ConfigError(f"{path}: row {number}: expected 3 columns t,lat,lon, got {len(row)}")
        cells = [c.strip() for c in row]
        try:
            values = [None if not c else float(c) for c in cells]
        except ValueError:
            raise ConfigError(f"{path}: row {number}: {','.join(cells)!r} is not t,lat,lon numbers") from None
        points.append(_point(values[0], values[1], values[2], f"{path}: row {number}"))
    if not points:
        raise ConfigError(f"{path}: the track file holds no positions")
    return points


def dump_truth(truth: GroundTruth, path: Path, *, with_track: bool = True) -> None:
    """Write a truth file the loader reads back to the same truth."""
    data: dict[str, Any] = {}
    vins = [i.value for i in truth.identifiers if i.kind == "vin"]
    if vins:
        data["vin"] = vins[0]
    others = [i.value for i in truth.identifiers if i.category == "personal_identity"]
    if others:
        data["identity"] = others
    data["tolerance_m"] = truth.tolerance_m
    data["window_s"] = truth.window_s
    if with_track and len(truth.track):
        data["position"] = [{"lat": lat, "lon": lon, **({} if t is None else {"t": t})}
                            for t, lat, lon in truth.track.points()]
    path.write_text(tomli_w.dumps(data), encoding="utf-8")
