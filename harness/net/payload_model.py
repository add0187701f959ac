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

    def add(self, item: PayloadMessage) -> None:
        self.items.append(item)
        self.categories |= item.categories
        self.messages += 1

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
