"""Lint and type-check the harness as part of its own tests, so CI holds the code to both."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from tests.harness_runner import ROOT


@pytest.mark.parametrize("command", [
    ["ruff", "check", "harness", "suites", "tests", "bench"],
    ["mypy", "harness"],
])
def test_static_checks(command: list[str]) -> None:
    tool = shutil.which(command[0], path=str(ROOT / ".venv" / "bin")) or shutil.which(command[0])
    if tool is None:
        tool_module = [sys.executable, "-m", command[0]]
    else:
        tool_module = [tool]
    done = subprocess.run(tool_module + command[1:], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
