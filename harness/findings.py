"""Verdicts and findings: the plain models every check returns and every report reads.

Verdicts follow ISO 9646 / TTCN-3; the overall verdict of anything is its worst part."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Verdict(StrEnum):
    PASS = "pass"
    INCONCLUSIVE = "inconclusive"
    FAIL = "fail"
    ERROR = "error"

    @property
    def severity(self) -> int:
        # error > fail > inconclusive > pass, as the analyze contract orders them
        return _SEVERITY[self]

    @property
    def exit_status(self) -> int:
        return _EXIT_STATUS[self]


_SEVERITY = {Verdict.PASS: 0, Verdict.INCONCLUSIVE: 1, Verdict.FAIL: 2, Verdict.ERROR: 3}
_EXIT_STATUS = {Verdict.PASS: 0, Verdict.FAIL: 1, Verdict.INCONCLUSIVE: 3, Verdict.ERROR: 4}


def worst(verdicts: Iterable[Verdict], default: Verdict = Verdict.PASS) -> Verdict:
    result = default
    for verdict in verdicts:
        if verdict.severity > result.severity:
            result = verdict
    return result


@dataclass(frozen=True)
class Finding:
    """One judged observation: what was seen, which clause it concerns, and the verdict."""

    check: str
    verdict: Verdict
    clause: str
    detail: str
    src: str = ""
    dst: str = ""
    region: str = ""
    protocol: str = ""
    categories: tuple[str, ...] = field(default_factory=tuple)
    time: float | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["verdict"] = self.verdict.value
        data["categories"] = list(self.categories)
        return data


def overall(findings: Iterable[Finding]) -> Verdict:
    return worst(f.verdict for f in findings)


def doubt(findings: list[Finding], check: str, clause: str, reason: str, protocol: str) -> None:
    """Where every finding so far passes, add that the passes rest on evidence that may be incomplete
    (`reason`): the verdict becomes inconclusive. A fail or inconclusive already found stands alone."""
    if all(f.verdict is Verdict.PASS for f in findings):
        findings.append(Finding(check, Verdict.INCONCLUSIVE, clause, reason, protocol=protocol))
