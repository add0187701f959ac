"""Run `harness run` as a user would, in a subprocess, and read back what it wrote."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class RunResult:
    status: int
    stdout: str
    stderr: str
    reports: Path

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.reports / "results.json").read_text(encoding="utf-8"))

    def verdicts(self) -> dict[str, str]:
        return {t["name"]: t["verdict"] for t in self.results["tests"]}


def harness_run(reports: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None) -> RunResult:
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--reports", str(reports), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
                          env=None if env is None else {**os.environ, **env})
    return RunResult(done.returncode, done.stdout, done.stderr, reports)


def leftover_namespaces() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith("hv")]
