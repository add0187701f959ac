"""One judgment of what payloads carry, for every path (live suites, `analyze`, `replay`): each
message's parts are unwrapped, searched for the ground truth (positions near the track, identifiers
in any spelling or digest), named by the key table where a container has keys, and checked for
opaque parts. All binary of one flow is scanned for positions in one numpy pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.net.classify import KEY_CATEGORIES, categories_of_keys, json_keys
from harness.truth.layers import Unwrapped, unwrap
from harness.truth.model import GroundTruth
from harness.truth.positions import (
    PositionHit,
    binary_positions,
    describe_precision,
    number_positions,
    text_positions,
)
from harness.truth.strings import StringMatcher
from harness.truth.track_index import TrackIndex

Part = tuple[bytes, str]  # (bytes, what part of the message they are: "body", "topic", ...)


@dataclass
class Recognised:
    """What one message carries beyond what its decoder named."""

    categories: set[str] = field(default_factory=set)
    encodings: dict[str, str] = field(default_factory=dict)   # category -> how it was found (first)
    location: tuple[float, float] | None = None
    opaque: list[str] = field(default_factory=list)

    def add(self, category: str, encoding: str) -> None:
        self.categories.add(category)
        self.encodings.setdefault(category, encoding)


class Recogniser:
    """Built once per ground truth (the automaton and the track index are the costly parts)."""

    def __init__(self, truth: GroundTruth | None, table: Mapping[str, str] = KEY_CATEGORIES) -> None:
        self.truth = truth
        self.table = table
        self.strings = StringMatcher(truth.identifiers) if truth is not None else None
        self.track = TrackIndex(truth) if truth is not None and len(truth.track) else None
        # with nothing to search for, only opaque parts matter, and only large parts can hide one
        self.opaque_only = not self.strings and self.track is None
        self._seen: dict[tuple[bytes, str], Unwrapped] = {}  # telemetry repeats its topics and headers

    def inspect(self, units: Sequence[tuple[float | None, Sequence[Part]]]) -> list[Recognised]:
        """One result per unit (a message: its time and parts)."""
        results = [Recognised() for _ in units]
        binary: list[tuple[int, bytes, tuple[str, ...], str]] = []
        for number, (time, parts) in enumerate(units):
            result = results[number]
            for data, label in parts:
                found = self._unwrap(data, label)
                result.opaque += found.opaque
                self._names(found, result)
                if self.strings:
                    self._strings(found, label, result)
                if self.track is not None:
                    self._text_positions(found, time, label, result)
                    binary += [(number, v.data, v.path, label) for v in found.views if not v.text]
        if self.track is not None and binary:
            times = [units[n][0] for n, _, _, _ in binary]
            for hit in binary_positions([b for _, b, _, _ in binary], times, self.track):
                number, _, path, label = binary[hit.blob]
                self._position(results[number], hit, path, label)
        return results

    def _unwrap(self, data: bytes, label: str) -> Unwrapped:
        if len(data) > 512:
            return unwrap(data, label, opaque_only=self.opaque_only)
        key = (data, label)
        found = self._seen.get(key)
        if found is None:
            if len(self._seen) > 4096:
                self._seen.clear()
            found = self._seen[key] = unwrap(data, label, opaque_only=self.opaque_only)
        return found

    def _names(self, found: Unwrapped, result: Recognised) -> None:
        for document in found.documents:
            for category in categories_of_keys((str(k) for k in json_keys(document)), self.table):
                result.add(category, "named by its key in a CBOR or MessagePack map")

    def _strings(self, found: Unwrapped, label: str, result: Recognised) -> None:
        assert self.strings is not None
        for view in found.views:
            for hit in self.strings.search(view.data):
                result.add(hit.identifier.category, _where(hit.encoding, view.path, label))

    def _text_positions(self, found: Unwrapped, time: float | None, label: str, result: Recognised) -> None:
        assert self.track is not None
        for view in found.views:
            if view.text:
                for hit in text_positions(view.data, time, self.track):
                    self._position(result, hit, view.path, label)
        for numbers, path in found.numbers:
            for hit in number_positions(numbers, time, self.track, path[-1]):
                self._position(result, hit, path[:-1], label)

    @staticmethod
    def _position(result: Recognised, hit: PositionHit, path: tuple[str, ...], label: str) -> None:
        how = f"{hit.encoding}, {describe_precision(hit.precision_m)}"
        result.add("location", _where(how, path, label))
        if result.location is None:
            result.location = (hit.lat, hit.lon)


def _where(how: str, path: tuple[str, ...], label: str) -> str:
    inside = " in ".join(reversed(path))
    return f"{how} in {inside + ' in ' if inside else ''}the {label}"
