"""What a flow carried, as the decoders report it: messages with their categories and times, the
server names seen, and whether everything could be decoded.

Kept apart from the decoders so each protocol module (HTTP, MQTT, TLS, ...) can build these."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PayloadMessage:
    """One application message of a flow: when it was sent and what it carried."""

    time: float
    protocol: str
    categories: frozenset[str]
    location: tuple[float, float] | None = None  # (latitude, longitude) when the message holds a position
    detail: str = ""


@dataclass
class FlowPayload:
    protocol: str
    categories: set[str] = field(default_factory=set)
    decodable: bool = True
    messages: int = 0
    detail: str = ""
    items: list[PayloadMessage] = field(default_factory=list)
    names: set[str] = field(default_factory=set)  # server names the flow itself shows: TLS SNI, HTTP Host
    problems: list[str] = field(default_factory=list)  # why it is not (fully) decodable
    # name look-ups, time and address configuration: traffic of the network, not data the vehicle sends
    infrastructure: bool = False
    # category -> how ground truth or a container found it, e.g. "int32 ×1e7, big-endian ... in the body"
    encodings: dict[str, str] = field(default_factory=dict)
    # what each message consisted of, for the search that follows decoding: (item index or None for
    # bytes no decoder made a message of, time, parts); dropped once searched
    units: list[tuple[int | None, float, tuple[tuple[bytes, str], ...]]] = field(default_factory=list, repr=False)

    def add(self, item: PayloadMessage, parts: tuple[tuple[bytes, str], ...] = ()) -> None:
        if parts:
            self.units.append((len(self.items), item.time, parts))
        self.items.append(item)
        self.categories |= item.categories
        self.messages += 1

    def unread(self, time: float, parts: tuple[tuple[bytes, str], ...]) -> None:
        """Bytes no decoder made a message of (an unknown stream or datagram): searched all the same."""
        self.units.append((None, time, parts))

    def absorb(self, other: FlowPayload) -> None:
        """Another decoding of part of this flow (decrypted TLS, a datagram's frames) into this one."""
        offset = len(self.items)
        for item in other.items:
            self.items.append(item)
            self.categories |= item.categories
            self.messages += 1
        self.units += [(None if i is None else i + offset, t, p) for i, t, p in other.units]
        for problem in other.problems:
            self.undecodable(problem)
        for category, how in other.encodings.items():
            self.encodings.setdefault(category, how)

    def categories_described(self, categories: set[str] | frozenset[str] | tuple[str, ...]) -> str:
        """Category names, each with how it was found where that is not its name: `location (int32 ...)`."""
        return ", ".join(f"{c} ({self.encodings[c]})" if c in self.encodings else c for c in sorted(categories))

    def undecodable(self, why: str) -> None:
        self.decodable = False
        if why not in self.problems:
            self.problems.append(why)

    def describe_problems(self) -> str:
        """The detail plus the first problems, for a finding's one-line explanation."""
        if not self.problems:
            return self.detail
        more = len(self.problems) - 3
        shown = "; ".join(self.problems[:3]) + (f"; and {more} more" if more > 0 else "")
        return f"{self.detail}; {shown}" if self.detail else shown


class StreamClock:
    """Capture time of a byte offset in a reassembled stream."""

    def __init__(self, times: list[tuple[int, float]]) -> None:
        self.offsets = [o for o, _ in times]
        self.times = [t for _, t in times]

    def at(self, offset: int) -> float:
        if not self.times:
            return 0.0
        return self.times[max(0, bisect.bisect_right(self.offsets, offset) - 1)]
