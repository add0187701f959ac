"""A network namespace whose only interface is `lo`, for the programs that render or show reports.

Flags ask a program not to phone home; a namespace with no route out makes sure it cannot. Without
root there is no namespace, and the caller is told why so it can say so instead of claiming isolation."""

from __future__ import annotations

import os
import random
import shutil
import string
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import RigError
from harness.rig import netns


@dataclass(frozen=True)
class Loopback:
    """Where a program runs: `namespace` holds only `lo`; None when it could not be made, and `reason` says why."""

    namespace: str | None
    reason: str = ""

    def argv(self, argv: Sequence[str]) -> list[str]:
        """The command line that runs `argv` here (unchanged where there is no namespace)."""
        return netns.exec_argv(self.namespace, argv) if self.namespace else list(argv)

    def describe(self) -> str:
        return "network: lo only" if self.namespace else f"network NOT isolated: {self.reason}"


def unavailable() -> str:
    """Why no namespace can be made here, or '' when one can."""
    if os.geteuid() != 0:
        return "not root; run as root, or inside `unshare --user --map-root-user --net`"
    if shutil.which("ip") is None:
        return "iproute2's `ip` is missing: apt-get install iproute2"
    return ""


@contextmanager
def loopback_only(label: str) -> Iterator[Loopback]:
    """A fresh namespace with only `lo` up, removed afterwards; named like the rig's so a crash is swept."""
    reason = unavailable()
    if reason:
        yield Loopback(None, reason)
        return
    letters = "".join(c for c in label.lower() if c in string.ascii_lowercase) or "lo"
    name = f"{netns.owned_prefix()}{letters}{''.join(random.choices(string.ascii_lowercase, k=5))}"
    try:
        netns.create(name)
    except RigError as exc:
        netns.delete(name)
        yield Loopback(None, str(exc))
        return
    try:
        yield Loopback(name)
    finally:
        netns.delete(name)


def interfaces(pid: int) -> list[str]:
    """The network interfaces process `pid` sees (from /proc/PID/net/dev), to prove where it ran."""
    lines = Path(f"/proc/{pid}/net/dev").read_text(encoding="utf-8").splitlines()[2:]
    return sorted(line.split(":", 1)[0].strip() for line in lines if ":" in line)
