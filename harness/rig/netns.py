"""Linux network namespaces for the virtual rig: create, enter, delete, sweep.

The virtual rig keeps every simulated address inside namespaces it owns, so nothing it
sends can reach the host's network; a socket keeps the namespace it was opened in."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from harness.errors import RigError

CLONE_NEWNET = 0x40000000
PR_SET_PDEATHSIG = 1
NETNS_DIR = Path("/run/netns")
_OWNED = re.compile(r"^hv(?P<pid>\d+)[a-z]+$")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def require_namespaces() -> None:
    """Fail early, with the fix, where this machine cannot give the rig its own namespaces."""
    if shutil.which("ip") is None:
        raise RigError("the virtual rig needs iproute2's `ip` command: apt-get install iproute2")
    if os.geteuid() != 0:
        raise RigError(
            "the virtual rig creates network namespaces and needs root: run `sudo harness run`, "
            "or run inside `unshare --user --map-root-user --net --mount`"
        )


def ip(*args: str, namespace: str | None = None) -> str:
    command = ["ip"] + (["-n", namespace] if namespace else []) + list(args)
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RigError(f"`{' '.join(command)}` failed: {done.stderr.strip() or done.returncode}")
    return done.stdout


def create(name: str) -> None:
    ip("netns", "add", name)
    ip("link", "set", "lo", "up", namespace=name)


def delete(name: str) -> None:
    subprocess.run(["ip", "netns", "del", name], capture_output=True, check=False)


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def listed() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def owned_prefix(pid: int | None = None) -> str:
    return f"hv{os.getpid() if pid is None else pid}"


def owned_name(name: str) -> bool:
    """A namespace name of the harness's own making (hv<pid><role>)."""
    return _OWNED.match(name) is not None


def sweep_stale() -> list[str]:
    """Delete namespaces left by harness processes that died without cleaning up."""
    removed = []
    for name in listed():
        match = _OWNED.match(name)
        if match and not _alive(int(match["pid"])):
            delete(name)
            removed.append(name)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _setns(fd: int) -> None:
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise RigError(f"setns failed: {os.strerror(err)}")


@contextmanager
def entered(name: str) -> Iterator[None]:
    """Run the block with this thread in namespace `name`; sockets opened inside stay there."""
    if not exists(name):
        raise RigError(f"network namespace {name!r} does not exist")
    own = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
    target = os.open(NETNS_DIR / name, os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(target)
        os.close(own)


def die_with_parent() -> None:
    """For `preexec_fn`: a harness killed outright takes the process along (SIGTERM, which the vECU and
    the broker handle), since the namespace sweep removes namespaces but cannot reach a process.
    The parent is the thread that started it, so start such processes from the main thread."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def exec_argv(name: str, argv: Sequence[str]) -> list[str]:
    """The command line that runs `argv` inside namespace `name`."""
    return ["ip", "netns", "exec", name, *argv]
