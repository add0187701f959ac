"""The catalogue of seeded vECU defects, read from defects.toml and validated by name.

Defects are data: the suite's self-validation iterates over them, and an unknown name, or two
defects of one rule in one run, is refused before anything starts."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

from harness.errors import ConfigError

CATALOGUE = Path(__file__).with_name("defects.toml")


@dataclass(frozen=True)
class Defect:
    name: str
    rule: str
    breaks: str
    caught_by: str | None = None  # the one suite test that proves its condition (default: every test of the rule)
    verdict: str = "fail"  # the verdict that proves the suite caught it (inconclusive where nothing can be seen)


def load_catalogue(path: Path = CATALOGUE) -> dict[str, Defect]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return {name: Defect(name, entry["rule"], entry["breaks"], entry.get("caught_by"),
                       verdict=entry.get("verdict", "fail"))
            for name, entry in data.get("defect", {}).items()}


def validate(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    catalogue = load_catalogue()
    unknown = [n for n in names if n not in catalogue]
    if unknown:
        raise ConfigError(f"unknown vECU defect {', '.join(unknown)}; known: {', '.join(sorted(catalogue))}")
    # two defects of one rule would leave a failing test without one cause: seed one defect per rule
    by_rule: dict[str, str] = {}
    for name in dict.fromkeys(names):
        rule = catalogue[name].rule
        if rule in by_rule:
            raise ConfigError(f"vECU defects {by_rule[rule]} and {name} both break {rule}; seed at most one defect "
                              "per rule")
        by_rule[rule] = name
    return tuple(names)


def catching_tests(defect: Defect, suites: Path) -> list[str]:
    """The suite files or test ids (relative to the suites' parent) that hold the tests of a defect's
    rule, or the one test that proves its condition: what a run selects to see the defect caught."""
    files = sorted(p for p in suites.rglob("test_*.py") if f'"{defect.rule}"' in p.read_text(encoding="utf-8"))
    if defect.caught_by is None:
        return [str(p.relative_to(suites.parent)) for p in files]
    return [f"{p.relative_to(suites.parent)}::{defect.caught_by}" for p in files
            if f"def {defect.caught_by}(" in p.read_text(encoding="utf-8")]
