"""Allure results for a conformance test: labels (rule family as epic, rule as feature, clause as
story, severity from the profile) and the judgment's attachments (decoded findings, capture excerpt, the
test's timeline drawing).

Allure is optional at run time: without the allure-pytest plugin active these calls do nothing."""

from __future__ import annotations

import json
from typing import Any

from harness.net.evidence import Evidence
from harness.report.excerpt import capture_excerpt
from harness.report.results import TestRecord

SEVERITY_ORDER = ("trivial", "minor", "normal", "critical", "blocker")


def label(rules: list[str], clauses: list[dict[str, str]], severities: list[str]) -> None:
    """Label the running test; the most severe of its rules' severities is the test's."""
    allure = _allure()
    if allure is None:
        return
    for family in dict.fromkeys(rule.split(".", 1)[0] for rule in rules):
        allure.dynamic.epic(family)
    for rule in rules:
        allure.dynamic.feature(rule)
    for clause in clauses:
        allure.dynamic.story(clause["id"])
    known = [s for s in severities if s in SEVERITY_ORDER]
    if known:
        allure.dynamic.severity(allure.severity_level(max(known, key=SEVERITY_ORDER.index)))


def attach_judgment(record: TestRecord, evidence: Evidence, timeline: str | None = None) -> None:
    """Attach what the verdict rests on: the findings (text and JSON), an excerpt of the capture and the
    timeline (SVG) of the test."""
    allure = _allure()
    if allure is None:
        return
    kind = allure.attachment_type
    allure.attach("\n".join(f"{f.verdict.value.upper():13} {f.clause}: {f.detail}"
                            + (f" [{f.src} -> {f.dst}]" if f.dst else "") for f in record.findings),
                  name="findings", attachment_type=kind.TEXT)
    allure.attach(json.dumps([f.to_dict() for f in record.findings], indent=2, ensure_ascii=False),
                  name="findings (decoded, JSON)", attachment_type=kind.JSON)
    allure.attach(capture_excerpt(evidence, record.findings), name="capture excerpt", attachment_type=kind.TEXT)
    if timeline is not None:
        allure.attach(timeline, name="timeline", attachment_type=kind.SVG)


def _allure() -> Any:
    try:
        import allure
        from allure_commons._allure import plugin_manager
    except ImportError:
        return None
    # with the plugin loaded but not active (no --alluredir), calls are no-ops anyway
    return allure if plugin_manager.list_name_plugin() else None
