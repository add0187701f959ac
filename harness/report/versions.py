"""The versions a run was made with: the harness, Python, every dependency, and the capture tool.

Recorded in the evidence bundle, so a replay that disagrees can be traced to a changed decoder."""

from __future__ import annotations

import hashlib
import platform
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from harness import __version__

DISTRIBUTION = "vehicle-conformance-harness"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def _dependencies() -> list[str]:
    try:
        requirements = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        return []
    names = []
    for requirement in requirements:
        match = _NAME.match(requirement)
        if match and "extra ==" not in requirement:
            names.append(match.group(0))
    return names


def _package_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _tool_version(command: list[str]) -> str:
    if shutil.which(command[0]) is None:
        return "not installed"
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"unknown ({exc})"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "unknown"


def code_digest() -> str:
    """sha256 over the harness's own source: two runs with the same digest judged with the same code."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def versions() -> dict[str, Any]:
    return {
        "harness": __version__,
        "harness_code_sha256": code_digest(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": {name: _package_version(name) for name in sorted(_dependencies(), key=str.lower)},
        "tools": {"dumpcap": _tool_version(["dumpcap", "--version"])},
    }
