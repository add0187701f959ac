"""Progress of a long run, per suite: after each conformance test, one line with the suite's bar, the
run's count, the verdicts that were not pass so far, and an estimate of the time left.

A lab run can take an hour on a bench; the operator should see it move and see failures early."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

BAR = 20


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


@dataclass
class SuiteProgress:
    totals: dict[str, int]  # conformance tests per suite, as collected
    done: Counter[str] = field(default_factory=Counter)
    verdicts: dict[str, Counter[str]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.totals.values())

    def finished(self, suite: str, verdict: str, seconds: float) -> str:
        """Count one finished test and return the progress line to show."""
        self.done[suite] += 1
        self.verdicts.setdefault(suite, Counter())[verdict] += 1
        self.seconds += max(0.0, seconds)
        of = max(self.totals.get(suite, 0), self.done[suite])
        filled = BAR * self.done[suite] // of
        bad = ", ".join(f"{n} {v}" for v, n in sorted(self.verdicts[suite].items()) if v != "pass" and n)
        finished = sum(self.done.values())
        left = max(0, self.total - finished)
        eta = f" | ~{_duration(self.seconds / finished * left)} left" if left else ""
        return (f"{suite:>12} [{'#' * filled}{'-' * (BAR - filled)}] {self.done[suite]}/{of}"
                f"{' (' + bad + ')' if bad else ''} | run {finished}/{max(self.total, finished)}{eta}")
