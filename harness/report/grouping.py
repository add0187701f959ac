"""Findings that say the same thing about the same destination, grouped: a test that fails on 18 HTTP
requests reads as one row with a count and a time span, not 18 rows that differ only in source port.

Works on the recorded findings (dicts), so every report built from a run record groups the same way."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FindingGroup:
    check: str
    verdict: str
    clause: str
    source: str  # the source address without its port
    dst: str
    region: str
    protocol: str
    categories: tuple[str, ...]
    members: tuple[Mapping[str, Any], ...]  # the findings themselves, in the record's order

    @property
    def count(self) -> int:
        return len(self.members)

    @property
    def first(self) -> float | None:
        times = self._times()
        return min(times) if times else None

    @property
    def last(self) -> float | None:
        times = self._times()
        return max(times) if times else None

    @property
    def detail(self) -> str:
        return str(self.members[0].get("detail") or "")

    def _times(self) -> list[float]:
        return [float(t) for t in (m.get("time") for m in self.members) if isinstance(t, int | float)]


def source_host(src: str) -> str:
    """`198.51.100.2:40001` -> `198.51.100.2`, `[2001:db8::2]:80` -> `2001:db8::2`; anything else unchanged."""
    if src.startswith("[") and "]" in src:
        return src[1:src.index("]")]
    host, sep, port = src.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else src


def group_findings(findings: Iterable[Any]) -> list[FindingGroup]:
    """One group per check, verdict, clause, source host, destination, region, protocol and categories,
    in the order each group first appears (the record's order is chronological)."""
    groups: dict[tuple[str, str, str, str, str, str, str, tuple[str, ...]], list[Mapping[str, Any]]] = {}
    for finding in findings:
        if not isinstance(finding, Mapping):
            continue
        key = (_text(finding, "check"), _text(finding, "verdict").lower(), _text(finding, "clause"),
               source_host(_text(finding, "src")), _text(finding, "dst"), _text(finding, "region"),
               _text(finding, "protocol"), _categories(finding))
        groups.setdefault(key, []).append(finding)
    return [FindingGroup(check, verdict, clause, source, dst, region, protocol, categories, tuple(members))
            for (check, verdict, clause, source, dst, region, protocol, categories), members in groups.items()]


def _text(finding: Mapping[str, Any], key: str) -> str:
    value = finding.get(key)
    return "" if value is None else str(value)


def _categories(finding: Mapping[str, Any]) -> tuple[str, ...]:
    value = finding.get("categories") or ()
    return tuple(sorted(str(c) for c in value)) if isinstance(value, list | tuple) else (str(value),)
