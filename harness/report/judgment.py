"""How findings become a verdict, the same way in the live run and in replay: findings in one canonical
order with one JSON spelling, so a replay can be compared with the recorded run byte for byte.

Checks may build findings from sets or dicts whose order differs between processes; this is where
that order stops mattering."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from harness.errors import ConfigError
from harness.findings import Finding, Verdict, overall
from harness.verdicts import summarize

NO_FINDINGS = "the check returned no findings"


def _key(finding: Finding) -> tuple[Any, ...]:
    # chronological first (what the capture shows, in order), timeless conclusions after
    return (finding.time is None, finding.time or 0.0, finding.check, finding.clause, finding.verdict.severity,
            finding.src, finding.dst, finding.protocol, finding.region, finding.categories, finding.detail)


def canonical(findings: Iterable[Finding]) -> list[Finding]:
    """Findings with sorted categories, in a total order that depends only on their content."""
    tidy = [replace(f, categories=tuple(sorted(f.categories))) for f in findings]
    return sorted(tidy, key=_key)


def findings_json(findings: Iterable[Finding] | Iterable[Mapping[str, Any]]) -> str:
    """One canonical JSON text for a list of findings (objects or their recorded dicts)."""
    items = [f.to_dict() if isinstance(f, Finding) else dict(f) for f in findings]
    return json.dumps(items, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def conclude(findings: list[Finding]) -> tuple[Verdict, str]:
    """The verdict and its reason line; no findings at all is not a pass."""
    if not findings:
        return Verdict.INCONCLUSIVE, NO_FINDINGS
    verdict = overall(findings)
    return verdict, summarize(verdict, findings)


def json_params(check: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters as JSON gives them back: what the record stores and what replay passes."""
    try:
        return dict(json.loads(json.dumps(dict(params), sort_keys=True, allow_nan=False)))
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"judge({check}): parameters must be JSON values (str, number, bool, list, dict): "
                          f"{exc}") from None
