"""Run `harness run` as a user would, in a subprocess, and read back what it wrote."""

from __future__ import annotations

import json
import os
import random
import re
import string
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
    tag: str = ""

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.reports / "results.json").read_text(encoding="utf-8"))

    def verdicts(self) -> dict[str, str]:
        return {t["name"]: t["verdict"] for t in self.results["tests"]}


def harness_run(reports: Path, *args: str, timeout: float = 300, env: dict[str, str] | None = None,
                allure: bool = False) -> RunResult:
    """`harness run` in a subprocess whose namespaces carry a tag of their own (see leftover_namespaces).

    The Allure HTML report is rendered only when asked (it costs seconds per run; one test checks it)."""
    tag = "".join(random.choices(string.ascii_lowercase, k=6))
    if not allure:
        args = (*args, "--no-allure-report")
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--reports", str(reports), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, check=False,
                          env={**os.environ, "HARNESS_RIG_TAG": tag, **(env or {})})
    return RunResult(done.returncode, done.stdout, done.stderr, reports, tag)


def leftover_namespaces(run: RunResult) -> list[str]:
    """Namespaces that run created and did not remove (other runs in parallel are not counted)."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    names = [line.split()[0] for line in out.splitlines() if line.strip()]
    return [n for n in names if re.fullmatch(rf"hv\d+{run.tag}[a-z]+", n)]
