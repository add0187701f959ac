"""The shape every bad-input test of a configuration file checks: one ConfigError of one line that
names the file and each expected part (the key, the fix)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import pytest

from harness.errors import ConfigError


def assert_refused(load: Callable[[], object], path: Path, expected: Iterable[str]) -> None:
    with pytest.raises(ConfigError) as error:
        load()
    message = str(error.value)
    assert str(path) in message and "\n" not in message
    for part in expected:
        assert part in message, (part, message)
