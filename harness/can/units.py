"""Physical units of CAN signals and the conversions between them (km/h and m/s, percent and
fraction, kWh and Wh, ...), so a vehicle's DBC in other units maps onto the harness's signals.

Each unit belongs to one quantity and has a factor to that quantity's base unit; two units convert
only within the same quantity, which is what makes a mapping's declared unit checkable."""

from __future__ import annotations

import math

# unit -> (quantity, value of one unit in the quantity's base unit)
UNITS: dict[str, tuple[str, float]] = {
    "km/h": ("speed", 1.0), "kph": ("speed", 1.0), "kmh": ("speed", 1.0),
    "m/s": ("speed", 3.6), "mph": ("speed", 1.609344),
    "%": ("ratio", 1.0), "percent": ("ratio", 1.0), "pct": ("ratio", 1.0),
    "fraction": ("ratio", 100.0), "‰": ("ratio", 0.1), "permille": ("ratio", 0.1),
    "kwh": ("energy", 1.0), "wh": ("energy", 0.001),
    "kw": ("power", 1.0), "w": ("power", 0.001),
    "v": ("voltage", 1.0), "mv": ("voltage", 0.001),
    "s": ("time", 1.0), "sec": ("time", 1.0), "ms": ("time", 0.001), "us": ("time", 1e-6),
    "min": ("time", 60.0), "h": ("time", 3600.0),
    "deg": ("angle", 1.0), "°": ("angle", 1.0), "rad": ("angle", 180.0 / math.pi),
    "m": ("length", 1.0), "cm": ("length", 0.01), "km": ("length", 1000.0), "ft": ("length", 0.3048),
}


def normalise(unit: str | None) -> str:
    """The unit as this table spells it ("" for none); DBCs vary in case and spacing."""
    text = (unit or "").strip()
    if text.lower() in ("", "-", "1", "none"):
        return ""
    return text.lower() if text.lower() in UNITS else text


def known(unit: str) -> bool:
    return normalise(unit) in UNITS


def factor(source: str, target: str) -> float | None:
    """Multiply a value in `source` by this to get it in `target`; None when they do not convert."""
    a, b = UNITS.get(normalise(source)), UNITS.get(normalise(target))
    if a is None or b is None or a[0] != b[0]:
        return None
    return a[1] / b[1]


def same(a: str | None, b: str | None) -> bool:
    """Two spellings of one unit (km/h and kph), or both unitless."""
    na, nb = normalise(a), normalise(b)
    if na == nb:
        return True
    return factor(na, nb) == 1.0


def known_units() -> str:
    return ", ".join(sorted({u for u in UNITS if u.isascii()}))
