"""Ground truth as data: identifiers (VIN, the owner's identity, injected strings) and the vehicle's
track, with the tolerances a match must meet. Plain values, so evidence, bundles and replay carry them."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DEFAULT_TOLERANCE_M = 100.0
DEFAULT_WINDOW_S = 300.0


@dataclass(frozen=True)
class Identifier:
    """A string the vehicle may send: its category and what kind of string it is (for its spellings)."""

    category: str   # data category: vin, personal_identity, ...
    kind: str       # vin | name | phone | email | id_number | text
    value: str


@dataclass(frozen=True, eq=False)
class Track:
    """Positions the vehicle was at, oldest first; `times` is NaN where a position has no time."""

    times: np.ndarray = field(default_factory=lambda: np.empty(0))
    lat: np.ndarray = field(default_factory=lambda: np.empty(0))
    lon: np.ndarray = field(default_factory=lambda: np.empty(0))

    @classmethod
    def of(cls, points: list[tuple[float | None, float, float]]) -> Track:
        ordered = sorted(points, key=lambda p: (p[0] is None, p[0] or 0.0))
        return cls(np.array([np.nan if t is None else t for t, _, _ in ordered], dtype=float),
                   np.array([p[1] for p in ordered], dtype=float), np.array([p[2] for p in ordered], dtype=float))

    def __len__(self) -> int:
        return len(self.lat)

    def points(self) -> list[tuple[float | None, float, float]]:
        return [(None if np.isnan(t) else float(t), float(a), float(o))
                for t, a, o in zip(self.times, self.lat, self.lon, strict=True)]

    def merged(self, other: Track) -> Track:
        if not len(other):
            return self
        if not len(self):
            return other
        return Track.of(self.points() + other.points())


@dataclass(frozen=True, eq=False)
class GroundTruth:
    identifiers: tuple[Identifier, ...] = ()
    track: Track = field(default_factory=Track)
    tolerance_m: float = DEFAULT_TOLERANCE_M
    window_s: float = DEFAULT_WINDOW_S

    @property
    def empty(self) -> bool:
        return not self.identifiers and not len(self.track)

    def merged(self, other: GroundTruth | None) -> GroundTruth:
        """Both truths' values; this one's tolerances."""
        if other is None:
            return self
        seen = list(self.identifiers)
        seen += [i for i in other.identifiers if i not in seen]
        return GroundTruth(tuple(seen), self.track.merged(other.track), self.tolerance_m, self.window_s)

    def with_track(self, track: Track) -> GroundTruth:
        return GroundTruth(self.identifiers, self.track.merged(track), self.tolerance_m, self.window_s)


def identity_kind(value: str) -> str:
    """What kind of personal identity string this is, for the spellings to look for."""
    text = value.strip()
    digits = sum(c.isdigit() for c in text)
    if "@" in text and "." in text.split("@")[-1]:
        return "email"
    if digits >= 7 and all(c.isdigit() or c in "+-() ." for c in text):
        return "phone"
    if digits >= 10 and text[:-1].isdigit():
        return "id_number"  # e.g. an 18-character resident identity number ending in a check character
    return "name"


def identity(value: str) -> Identifier:
    return Identifier("personal_identity", identity_kind(value), value)


def vin(value: str) -> Identifier:
    return Identifier("vin", "vin", value)


def declared_truth(vin_value: str | None, owner: list[str]) -> GroundTruth:
    """What a rig declares of its vehicle and owner; the track comes from the capture's CAN."""
    identifiers = ([vin(vin_value)] if vin_value else []) + [identity(s) for s in owner]
    return GroundTruth(tuple(identifiers))
