"""Positions of the vehicle's track in any payload, whatever the field names: decimal text at any
precision, integers scaled by 1e5, 1e6 or 1e7 (text, 32-bit big- or little-endian binary, protobuf
varints), float32 and float64 in either byte order. A match is a latitude and a longitude close
together in the payload, in either order, near the track around the payload's time.

Binary is scanned at every byte offset with numpy, all of a flow's binary payloads in one pass."""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from harness.truth.track_index import METRES_PER_DEGREE, TrackIndex

SCALES = (100_000, 1_000_000, 10_000_000)
TEXT_GAP = 64          # bytes between the two numbers of a text pair
PAIR_REACH = 2         # a number pairs with the next this many numbers
GAPS = (0, 1, 2, 3, 4)  # bytes between a binary latitude and longitude: adjacent, or a tag, key or separator


@dataclass(frozen=True)
class PositionHit:
    lat: float
    lon: float
    encoding: str
    precision_m: float
    blob: int = 0      # which of the scanned payloads it was found in


def precision_of(decimals: int) -> float:
    """Metres of latitude one unit of the last decimal place spans."""
    return METRES_PER_DEGREE * 10.0 ** -decimals


def _decimals_of_float(value: float, single: bool) -> int:
    with np.errstate(all="ignore"):
        text = np.format_float_positional(np.float32(value) if single else value, unique=True, trim="-")
    return len(text.split(".")[1]) if "." in text else 0


def _decimals_of_scaled(raw: int, scale: int) -> int:
    places = len(str(scale)) - 1
    while places > 0 and raw and raw % 10 == 0:
        raw //= 10
        places -= 1
    return places


def _pair_ok(index: TrackIndex, lat: float, lon: float, time: float | None) -> bool:
    return index.plausible_one(lat, lon) and index.near(lat, lon, time)


def text_positions_of(blobs: list[bytes], times: list[float | None], index: TrackIndex) -> list[PositionHit]:
    """`text_positions` over many texts in one pass: joined with more than TEXT_GAP bytes between them,
    so no pair spans two texts; each number is given its own text's time."""
    if not index or not blobs:
        return []
    separator = b"\n" * (TEXT_GAP + 1)
    starts = list(itertools.accumulate((len(b) + len(separator) for b in blobs[:-1]), initial=0))
    return text_positions(separator.join(blobs), None, index, times=(starts, times))


def text_positions(data: bytes, time: float | None, index: TrackIndex, blob: int = 0,
                   label: str = "decimal text",
                   times: tuple[list[int], list[float | None]] | None = None) -> list[PositionHit]:
    """Pairs of numbers written as text (JSON, query strings, CSV, XML, ...). With `times` (offsets
    where each joined text starts, and its time), a hit names its text as its blob."""
    (lat_lo, lat_hi), (lon_lo, lon_hi) = index.lat_range, index.lon_range
    # only numbers that could be a coordinate of the track take part: most text has none or two
    numbers = []  # (start, end, [(degrees, scale or 0, decimal places, may be a latitude, ... a longitude)])
    for match in index.number_pattern.finditer(data):
        text = match.group()
        if b"." in text:
            value = float(text)
            is_lat, is_lon = lat_lo <= value <= lat_hi, lon_lo <= value <= lon_hi
            if is_lat or is_lon:
                numbers.append((match.start(), match.end(),
                                [(value, 0, len(text) - text.index(b".") - 1, is_lat, is_lon)]))
        elif len(text) >= 5:
            raw = int(text)
            kept = []
            for scale in SCALES:
                value = raw / scale
                is_lat, is_lon = lat_lo <= value <= lat_hi, lon_lo <= value <= lon_hi
                if is_lat or is_lon:
                    kept.append((value, scale, _decimals_of_scaled(raw, scale), is_lat, is_lon))
            if kept:
                numbers.append((match.start(), match.end(), kept))
    if len(numbers) < 2:
        return []
    hits: list[PositionHit] = []
    for i, (_, end, first) in enumerate(numbers):
        for other_start, _, second in numbers[i + 1:i + 1 + PAIR_REACH]:
            if other_start - end > TEXT_GAP:
                break
            for a, scale, places_a, a_lat, a_lon in first:
                for b, other_scale, places_b, b_lat, b_lon in second:
                    if scale != other_scale:
                        continue
                    places = min(places_a, places_b)
                    how = f"integer text ×1e{len(str(scale)) - 1}" if scale else f"{label}, {places} decimal places"
                    for lat, lon, ok in ((a, b, a_lat and b_lon), (b, a, b_lat and a_lon)):
                        if not ok:
                            continue
                        where, when = blob, time
                        if times is not None:
                            where = bisect.bisect_right(times[0], end) - 1
                            when = times[1][where]
                        if _pair_ok(index, lat, lon, when):
                            hits.append(PositionHit(lat, lon, how, precision_of(places), where))
    return hits


@dataclass(frozen=True)
class Number:
    """A number a structured decoder read (protobuf), with what it may stand for."""

    value: float
    kind: str                 # "varint", "sint (zigzag)", "float", "double", "fixed32", "fixed64"
    integer: bool


def number_positions(numbers: list[Number], time: float | None, index: TrackIndex, container: str,
                     blob: int = 0) -> list[PositionHit]:
    hits: list[PositionHit] = []
    for i, first in enumerate(numbers):
        for second in numbers[i + 1:i + 1 + PAIR_REACH]:
            if first.integer != second.integer:
                continue
            if first.integer:
                readings = [(first.value / s, second.value / s, f" ×1e{len(str(s)) - 1}",
                             min(_decimals_of_scaled(int(first.value), s), _decimals_of_scaled(int(second.value), s)))
                            for s in SCALES]
            else:
                single = first.kind == "float"
                readings = [(first.value, second.value, "", min(_decimals_of_float(first.value, single),
                                                                _decimals_of_float(second.value, single)))]
            for a, b, scale, places in readings:
                for lat, lon in ((a, b), (b, a)):
                    if _pair_ok(index, lat, lon, time):
                        hits.append(PositionHit(lat, lon, f"{container} {first.kind}{scale}", precision_of(places),
                                                blob))
    return hits


def binary_positions(blobs: list[bytes], times: list[float | None], index: TrackIndex) -> list[PositionHit]:
    """Every offset of every blob read as int32 (three scales), float32 and float64 in both byte
    orders; a latitude and a longitude of one reading at most four bytes apart, inside one blob."""
    if not index or not blobs:
        return []
    separator = b"\0" * 16
    joined = separator.join(blobs)
    if len(joined) < 8:
        return []
    sizes = [len(b) + len(separator) for b in blobs]
    owner = np.repeat(np.arange(len(blobs), dtype=np.int32), sizes)[:len(joined)]
    hits: list[PositionHit] = []
    (lat_lo, lat_hi), (lon_lo, lon_hi) = index.lat_range, index.lon_range
    for name, width, values, scale in _readings(joined):
        if scale:  # compare integers with integer bounds: no conversion of the whole array
            lat_at = np.flatnonzero((values >= math.floor(lat_lo * scale)) & (values <= math.ceil(lat_hi * scale)))
        else:
            lat_at = np.flatnonzero((values >= lat_lo) & (values <= lat_hi))
        if not len(lat_at):
            continue
        if scale:
            lon_mask = (values >= math.floor(lon_lo * scale)) & (values <= math.ceil(lon_hi * scale))
        else:
            lon_mask = (values >= lon_lo) & (values <= lon_hi)
        for gap in GAPS:
            step = width + gap
            for direction in (step, -step):  # the longitude after or before the latitude
                partner = lat_at + direction
                inside = (partner >= 0) & (partner < len(values))
                lat_where, lon_where = lat_at[inside], partner[inside]
                paired = lon_mask[lon_where]
                if not paired.any():
                    continue
                lat_where, lon_where = lat_where[paired], lon_where[paired]
                lats = values[lat_where].astype(np.float64) / (scale or 1)
                lons = values[lon_where].astype(np.float64) / (scale or 1)
                keep = index.plausible(lats, lons)
                for start, other, lat, lon in zip(lat_where[keep], lon_where[keep], lats[keep], lons[keep],
                                                  strict=True):
                    first, last = min(start, other), max(start, other) + width - 1
                    blob = int(owner[first])
                    if owner[min(last, len(owner) - 1)] != blob:
                        continue
                    if not index.near(float(lat), float(lon), times[blob]):
                        continue
                    hits.append(PositionHit(float(lat), float(lon), name,
                                            _binary_precision(name, float(lat), float(lon), scale), blob))
    return hits


def _binary_precision(name: str, lat: float, lon: float, scale: int) -> float:
    if scale:
        places = min(_decimals_of_scaled(round(lat * scale), scale), _decimals_of_scaled(round(lon * scale), scale))
    else:
        single = name.startswith("float32")
        places = min(_decimals_of_float(lat, single), _decimals_of_float(lon, single))
    return precision_of(places)


def _at_every_offset(data: bytes, dtype: str, width: int) -> np.ndarray:
    """The value starting at each byte offset: `width` strided views interleaved, all in C."""
    count = len(data) - width + 1
    out = np.empty(count, dtype=np.dtype(dtype).newbyteorder("="))
    for shift in range(width):
        n = (len(data) - shift) // width
        out[shift::width] = np.frombuffer(data, dtype=dtype, count=n, offset=shift)[:len(range(shift, count, width))]
    return out


def _readings(data: bytes) -> Iterable[tuple[str, int, np.ndarray, int]]:
    """(name, width, value at every offset, scale for integers or 0 for floats)."""
    for order, name in ((">", "big-endian"), ("<", "little-endian")):
        if len(data) >= 4:
            integers = _at_every_offset(data, f"{order}i4", 4)
            for scale in SCALES:
                yield f"int32 ×1e{len(str(scale)) - 1}, {name}", 4, integers, scale
            yield f"float32, {name}", 4, _at_every_offset(data, f"{order}f4", 4), 0
        if len(data) >= 8:
            yield f"float64, {name}", 8, _at_every_offset(data, f"{order}f8", 8), 0


def describe_precision(metres: float) -> str:
    """How fine a representation is, as a person says it: about 111 m, 1.1 m, 11 cm."""
    if metres >= 10:
        return f"about {metres:.0f} m"
    if metres >= 1:
        return f"about {metres:.1f} m"
    if metres >= 0.1:
        return f"about {metres * 100:.0f} cm"
    return f"about {metres * 100:.1f} cm" if metres >= 0.001 else "under 1 mm"

