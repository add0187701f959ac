"""Checks by name: every judgment function registers here, so a recorded run can name the checks
it ran (with their parameters) and a replay can run the same ones offline.

A check is `(evidence, policy, **params) -> list[Finding]`, pure, with JSON-serialisable params."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from harness.errors import ConfigError
from harness.findings import Finding
from harness.net.evidence import Evidence
from harness.policy.policy import Policy


class Check(Protocol):
    check_name: str

    def __call__(self, evidence: Evidence, policy: Policy, /, **params: Any) -> list[Finding]: ...


CHECKS: dict[str, Callable[..., list[Finding]]] = {}


def register(name: str) -> Callable[[Callable[..., list[Finding]]], Callable[..., list[Finding]]]:
    def wrap(function: Callable[..., list[Finding]]) -> Callable[..., list[Finding]]:
        if name in CHECKS and CHECKS[name] is not function:
            raise ValueError(f"check {name!r} registered twice")
        CHECKS[name] = function
        function.check_name = name  # type: ignore[attr-defined]
        return function
    return wrap


def check_named(name: str) -> Callable[..., list[Finding]]:
    import harness.checks  # noqa: F401 - importing the package registers every check

    try:
        return CHECKS[name]
    except KeyError:
        raise ConfigError(f"unknown check {name!r}; known: {', '.join(sorted(CHECKS))}") from None


def name_of(check: Callable[..., list[Finding]]) -> str:
    name = getattr(check, "check_name", None)
    if name is None:
        raise ConfigError(f"{getattr(check, '__name__', check)!r} is not a registered check")
    return str(name)
