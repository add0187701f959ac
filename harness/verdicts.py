"""How a suite test hands its findings to pytest: a verdict other than pass ends the test with
an exception that the plugin turns into the right outcome and report entry.

A test that never hands over findings is an `error`, never a pass."""

from __future__ import annotations

from harness.findings import Finding, Verdict


class VerdictRaised(Exception):  # noqa: N818 - it is a verdict, not an error
    def __init__(self, verdict: Verdict, reason: str, findings: list[Finding]) -> None:
        super().__init__(f"{verdict.value.upper()}: {reason}")
        self.verdict, self.reason, self.findings = verdict, reason, findings


def summarize(verdict: Verdict, findings: list[Finding]) -> str:
    """The reason line: the first finding that carries the verdict."""
    for finding in findings:
        if finding.verdict is verdict:
            where = f" [{finding.src} -> {finding.dst}]" if finding.dst else ""
            return f"{finding.detail}{where}"
    return "no findings"
