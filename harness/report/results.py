"""The run record: one entry per test with its verdict, clauses, findings and evidence, written
as results.json beside the HTML report and the JUnit XML.

The record is the single source every report is rendered from."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import __version__
from harness.findings import Finding, Verdict, worst
from harness.policy.profile import Profile


@dataclass
class TestRecord:
    nodeid: str
    name: str
    doc: str
    family: str
    rules: list[str]
    clauses: list[dict[str, str]]
    verdict: Verdict = Verdict.ERROR
    reason: str = "the test recorded no verdict"
    findings: list[Finding] = field(default_factory=list)
    evidence: dict[str, str] = field(default_factory=dict)
    capture_stats: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    judged: bool = False
    checks: list[dict[str, Any]] = field(default_factory=list)  # [{"check": name, "params": {...}}]
    seeds: dict[str, str] = field(default_factory=dict)  # what a rerun needs to draw the same examples

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodeid": self.nodeid, "name": self.name, "doc": self.doc, "family": self.family,
            "rules": self.rules, "clauses": self.clauses, "verdict": self.verdict.value, "reason": self.reason,
            "findings": [f.to_dict() for f in self.findings], "evidence": self.evidence,
            "capture_stats": self.capture_stats, "duration_s": round(self.duration_s, 3), "checks": self.checks,
            "seeds": self.seeds,
        }


@dataclass
class RunRecord:
    profile: str
    rig: str
    vecu_defect: str | None
    started: float = field(default_factory=time.time)
    tests: list[TestRecord] = field(default_factory=list)
    hypothesis_seed: str | None = None
    # every clause of the profile, tested or not, so the compliance matrix also shows the gaps
    profile_clauses: list[dict[str, str]] = field(default_factory=list)

    @property
    def verdict(self) -> Verdict:
        # a run that judged nothing has not passed
        return worst((t.verdict for t in self.tests), default=Verdict.ERROR if not self.tests else Verdict.PASS)

    def to_dict(self) -> dict[str, Any]:
        counts = {v.value: sum(1 for t in self.tests if t.verdict is v) for v in Verdict}
        return {
            "harness_version": __version__, "profile": self.profile, "rig": self.rig,
            "vecu_defect": self.vecu_defect, "hypothesis_seed": self.hypothesis_seed,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "duration_s": round(time.time() - self.started, 3), "verdict": self.verdict.value,
            "counts": counts, "profile_clauses": self.profile_clauses, "tests": [t.to_dict() for t in self.tests],
        }

    def write(self, path: Path) -> dict[str, Any]:
        data = self.to_dict()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        return data


def profile_clauses(profile: Profile) -> list[dict[str, str]]:
    """One row per (rule, clause) of the profile, in the profile's order."""
    return [{"rule": rule.id, "rule_title": rule.title, "severity": rule.severity, "id": clause.id,
             "title": clause.title, "source": clause.source}
            for rule in profile.rules.values() for clause in rule.clauses]
