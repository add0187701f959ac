"""Hypothesis on a live rig: a test plays a few generated scenarios one after another in one
observation, then judges the whole capture once.

A verdict rests on the capture, not on the scenario, so nothing fails inside hypothesis and there is
nothing to shrink: only the generate phase runs, with the run's seed (recorded in the report), so
a failing run is reproduced with `harness run --seed SEED`."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from harness.scenarios.log import ScenarioLog

T = TypeVar("T")


def parse_seed(value: object) -> int:
    """A seed from `--hypothesis-seed` (a number), or a fresh one."""
    if value is None or value == "":
        return secrets.randbelow(2**32)
    try:
        return int(str(value))
    except ValueError:
        return int.from_bytes(str(value).encode("utf-8")[:8].ljust(8, b"\0"), "big")


class Explorer:
    """Plays `examples` scenarios drawn from a strategy; the scenario log records each of them."""

    def __init__(self, seed_value: int, log: ScenarioLog) -> None:
        self.seed = seed_value
        self.log = log
        self.examples: list[Any] = []

    def run(self, strategy: st.SearchStrategy[T], play: Callable[[T], None], *, examples: int = 3,
            describe: Callable[[T], Any] = repr) -> list[T]:
        played: list[T] = []

        @settings(max_examples=examples, phases=[Phase.generate], deadline=None, database=None,
                  suppress_health_check=list(HealthCheck), print_blob=False)
        @seed(self.seed)
        @given(strategy)
        def each(example: T) -> None:
            account = describe(example)
            self.examples.append(account)
            self.log.record("example", index=len(played), seed=self.seed, example=account)
            played.append(example)
            play(example)

        each()
        return played
