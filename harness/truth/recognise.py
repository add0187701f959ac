"""One judgment of what payloads carry, for every path (live suites, `analyze`, `replay`): each
message's parts are unwrapped, searched for the ground truth (positions near the track, identifiers
in any spelling or digest), named by the key table where a container has keys, and checked for
opaque parts. All binary of one flow is scanned for positions in one numpy pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.net.classify import KEY_CATEGORIES, categories_of_keys, json_keys
from harness.truth.layers import Unwrapped, View, unwrap
from harness.truth.model import GroundTruth
from harness.truth.positions import (
    PositionHit,
    binary_positions,
    describe_precision,
    number_positions,
    text_positions_of,
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
        # every view of every message, searched together: one automaton pass, one text scan, one
        # numpy pass per flow instead of one per message
        views: list[tuple[int, View, str]] = []
        for number, (time, parts) in enumerate(units):
            result = results[number]
            for data, label in parts:
                found = self._unwrap(data, label)
                result.opaque += found.opaque
                self._names(found, result)
                views += [(number, view, label) for view in found.views]
                if self.track is not None:
                    for numbers, path in found.numbers:
                        for hit in number_positions(numbers, time, self.track, path[-1]):
                            self._position(result, hit, path[:-1], label)
        if self.strings and views:
            for which, string in self.strings.search_many([view.data for _, view, _ in views]):
                number, view, label = views[which]
                results[number].add(string.identifier.category, _where(string.encoding, view.path, label))
        if self.track is not None and views:
            for text in (True, False):
                chosen = [(number, view, label) for number, view, label in views if view.text is text]
                blobs, times = [v.data for _, v, _ in chosen], [units[n][0] for n, _, _ in chosen]
                scan = text_positions_of if text else binary_positions
                for position in scan(blobs, times, self.track):
                    number, view, label = chosen[position.blob]
                    self._position(results[number], position, view.path, label)
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

    @staticmethod
    def _position(result: Recognised, hit: PositionHit, path: tuple[str, ...], label: str) -> None:
        how = f"{hit.encoding}, {describe_precision(hit.precision_m)}"
        result.add("location", _where(how, path, label))
        if result.location is None:
            result.location = (hit.lat, hit.lon)


def _where(how: str, path: tuple[str, ...], label: str) -> str:
    inside = " in ".join(reversed(path))
    return f"{how} in {inside + ' in ' if inside else ''}the {label}"
