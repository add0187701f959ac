"""Run comparison for nightly QA: what changed between two runs (new fails, new errors, new
inconclusive, fixed, changed findings under the same verdict, tests added or removed), by test id.

Either side may be an evidence bundle (verified first), a reports directory or a results.json file."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.report.manifest import MANIFEST, BundleError, open_bundle
from harness.report.summary import printable

# the order the report lists the kinds of change in; the first three are the regressions
KINDS = ("new_fail", "new_error", "new_inconclusive", "fixed", "changed", "added", "removed")
TITLES = {"new_fail": "new fails", "new_error": "new errors", "new_inconclusive": "new inconclusive",
          "fixed": "fixed", "changed": "changed", "added": "added", "removed": "removed"}
REGRESSIONS = ("new_fail", "new_error", "new_inconclusive")


@dataclass(frozen=True)
class Change:
    kind: str
    nodeid: str
    name: str
    before: str | None
    after: str | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "nodeid": self.nodeid, "name": self.name, "before": self.before,
                "after": self.after, "reason": self.reason}


@dataclass
class Comparison:
    old: str
    new: str
    old_started: str
    new_started: str
    changes: list[Change] = field(default_factory=list)
    unchanged: int = 0

    def of(self, kind: str) -> list[Change]:
        return [c for c in self.changes if c.kind == kind]

    @property
    def regressed(self) -> bool:
        return any(c.kind in REGRESSIONS for c in self.changes)

    def to_dict(self) -> dict[str, Any]:
        return {"old": self.old, "new": self.new, "old_started": self.old_started, "new_started": self.new_started,
                "regressed": self.regressed, "unchanged": self.unchanged,
                **{kind: [c.to_dict() for c in self.of(kind)] for kind in KINDS}}

    def text(self) -> str:
        lines = [f"compared {self.new} ({self.new_started}) with {self.old} ({self.old_started}):"]
        for kind in KINDS:
            changes = self.of(kind)
            lines.append(f"  {TITLES[kind]}: {len(changes)}")
            for change in changes:
                arrow = f"{(change.before or '-').upper()} -> {(change.after or '-').upper()}"
                lines.append(f"    {printable(change.name)}  {arrow}  {printable(change.reason)}".rstrip())
        lines.append(f"  unchanged: {self.unchanged}")
        return "\n".join(lines)


def load_run(path: Path) -> dict[str, Any]:
    """The run record of a bundle (verified), a reports directory or a results.json file."""
    if path.is_file() and path.suffix == ".json":
        source = path
    elif path.is_dir() and not (path / MANIFEST).is_file():
        source = path / "results.json"
    else:
        with open_bundle(path) as bundle:
            return bundle.run()
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BundleError(f"{path}: no run record to compare ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("tests"), list):
        raise BundleError(f"{source}: not a run record (no list of tests)")
    return data


def _kind(before: str | None, after: str | None) -> str | None:
    if before == after:
        return None
    if before is None:
        return "added"
    if after is None:
        return "removed"
    if after == "fail":
        return "new_fail"
    if after == "error":
        return "new_error"
    if after == "inconclusive":
        return "new_inconclusive"
    if after == "pass":
        return "fixed"
    return "changed"  # a verdict this version does not know


def _problems(test: dict[str, Any]) -> set[tuple[str, ...]]:
    """What a test found wrong, without what differs between any two runs (times, source ports, counts)."""
    return {(str(f.get("check")), str(f.get("verdict")), str(f.get("clause")), str(f.get("dst")),
             str(f.get("region")), str(f.get("protocol")), ",".join(sorted(f.get("categories") or ())))
            for f in test.get("findings") or () if f.get("verdict") != "pass"}


def compare(old: dict[str, Any], new: dict[str, Any], old_name: str = "old", new_name: str = "new") -> Comparison:
    before = {str(t.get("nodeid")): t for t in old.get("tests") or ()}
    after = {str(t.get("nodeid")): t for t in new.get("tests") or ()}
    result = Comparison(old_name, new_name, str(old.get("started", "?")), str(new.get("started", "?")))
    for nodeid in [*after, *(n for n in before if n not in after)]:
        was, now = before.get(nodeid), after.get(nodeid)
        kind = _kind(None if was is None else str(was.get("verdict")), None if now is None else str(now.get("verdict")))
        if kind is None and was is not None and now is not None and _problems(was) != _problems(now):
            kind = "changed"
        if kind is None:
            result.unchanged += 1
            continue
        test = now if now is not None else was
        assert test is not None
        result.changes.append(Change(kind, nodeid, str(test.get("name") or nodeid),
                                     None if was is None else str(was.get("verdict")),
                                     None if now is None else str(now.get("verdict")), str(test.get("reason") or "")))
    order = {kind: i for i, kind in enumerate(KINDS)}
    result.changes.sort(key=lambda c: order[c.kind])
    return result
