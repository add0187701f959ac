"""Profiles: the jurisdiction, the regulated data categories and the clauses behind each rule.

A profile is data (profiles/*.toml); checks take the clause ids they cite from here, so the
same suite runs under `cn` and `eu` unchanged."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError
from harness.policy.netmap import CATEGORIES

PROFILE_DIR = Path(__file__).with_name("profiles")
SEVERITIES = ("blocker", "critical", "normal", "minor", "trivial")


@dataclass(frozen=True)
class Clause:
    id: str
    source: str
    title: str


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    clauses: tuple[Clause, ...]
    severity: str = "normal"  # blocker, critical, normal, minor or trivial: how much a violation matters
    # the numbers a rule is judged by (standstill speed, undervoltage): policy, never a check's literal
    limits: Mapping[str, float] = field(default_factory=dict, hash=False)

    @property
    def primary(self) -> str:
        return self.clauses[0].id

    def limit(self, name: str) -> float:
        try:
            return float(self.limits[name])
        except KeyError:
            raise ConfigError(f"rule {self.id!r} declares no limit {name!r}; add it to the profile's "
                              f'[rules."{self.id}"] limits') from None


@dataclass(frozen=True)
class Profile:
    name: str
    title: str
    jurisdiction: frozenset[str]
    regulated_categories: frozenset[str]
    consent_required_categories: frozenset[str]
    rules: dict[str, Rule]
    # environment data (road, building, terrain from vehicle sensors) and whether an approved export may cover it
    environment_categories: frozenset[str] = frozenset()
    environment_exportable: bool = True

    def rule(self, rule_id: str) -> Rule:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise ConfigError(f"profile {self.name!r} defines no rule {rule_id!r}") from None

    def inside(self, region: str) -> bool:
        return region in self.jurisdiction


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))


def load_profile(name_or_path: str | Path) -> Profile:
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        raise ConfigError(f"unknown profile {str(name_or_path)!r}; available: {', '.join(available_profiles())}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        head = data["profile"]
        rules = {
            rule_id: Rule(rule_id, entry["title"], tuple(Clause(c["id"], c.get("source", ""), c.get("title", ""))
                                                          for c in entry["clauses"]),
                          entry.get("severity", "normal"),
                          {str(k): float(v) for k, v in entry.get("limits", {}).items()})
            for rule_id, entry in data["rules"].items()
        }
        profile = Profile(
            name=head["name"], title=head.get("title", head["name"]),
            jurisdiction=frozenset(head["jurisdiction"]),
            regulated_categories=frozenset(head["regulated_categories"]),
            consent_required_categories=frozenset(head["consent_required_categories"]),
            rules=rules,
            environment_categories=frozenset(head.get("environment_categories", ())),
            environment_exportable=bool(head.get("environment_exportable", True)),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ConfigError(f"{path}: malformed profile: {exc}") from None
    unknown = (profile.regulated_categories | profile.consent_required_categories
               | profile.environment_categories) - set(CATEGORIES)
    if unknown:
        raise ConfigError(f"{path}: unknown data categories {sorted(unknown)}")
    wrong = sorted(r.id for r in rules.values() if r.severity not in SEVERITIES)
    if wrong:
        raise ConfigError(f"{path}: [rules] severity of {', '.join(wrong)}: must be one of {', '.join(SEVERITIES)}")
    if any(not rule.clauses for rule in rules.values()):
        raise ConfigError(f"{path}: every rule needs at least one clause")
    return profile
