"""Where a bench ECU's TLS secrets come from: the NSS key log it writes to a file, or a command the
lab runs to fetch it (e.g. over ssh to an engineering build); read after every test into its evidence.

A real ECU's key log outlives a test, so each test keeps only the lines written during it; a fetch
that fails, or a log without a usable line, is said in one line the evidence keeps beside the capture."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.net.keylog import parse_keylog

if TYPE_CHECKING:
    from harness.rig.config import _Reader

KEYS = ("keylog", "keylog_command", "keylog_timeout_s")
DEFAULT_TIMEOUT_S = 10.0
_TAIL = 64  # bytes before a test's start offset, compared again at its end to notice a replaced file
NSS_FORM = "`CLIENT_RANDOM <64 hex> <96 hex>` or a TLS 1.3 secret such as CLIENT_HANDSHAKE_TRAFFIC_SECRET"


@dataclass(frozen=True)
class KeylogSource:
    """A file the ECU writes (`path`) or a command whose stdout is the key log (`command`): one of them."""

    path: Path | None = None
    command: tuple[str, ...] = ()
    timeout_s: float = DEFAULT_TIMEOUT_S

    def describe(self) -> str:
        return str(self.path) if self.path is not None else f"`{shlex.join(self.command)}`"


@dataclass(frozen=True)
class Fetched:
    """What one read of the source gave: the key-log text, how many secrets it holds, and why the TLS
    secrets of the sessions it should cover may be missing (None: nothing to say)."""

    text: str
    secrets: int
    lines: int
    problem: str | None
    read: bool = True  # False: the source gave nothing at all (file missing, command failed)


def parse(table: _Reader, kind: str) -> KeylogSource | None:
    """The rig file's [tls] table; absent, the bench's TLS flows stay opaque."""
    if not table.data:
        return None
    unknown = sorted(set(table.data) - set(KEYS))
    if unknown:
        raise table.fail(unknown[0], f"unknown key; [tls] has {', '.join(KEYS)}")
    if kind != "bench":
        raise table.fail(", ".join(sorted(table.data)), "[tls] is for benches; the virtual ECU writes its key "
                                                       "log into each test's evidence itself")
    timeout = table.get("keylog_timeout_s", float, DEFAULT_TIMEOUT_S)
    if not 0 < timeout <= 300:
        raise table.fail("keylog_timeout_s", f"must be between 0 and 300 seconds, got {timeout}")
    given = [key for key in ("keylog", "keylog_command") if key in table.data]
    if len(given) != 1:
        raise table.fail("keylog_command" if given else "keylog_timeout_s",
                         "give either keylog (the file the ECU writes) or keylog_command (a command printing it), "
                         "not both" if given else "needs keylog or keylog_command beside it")
    value = table.get(given[0], str)
    if not value.strip():
        raise table.fail(given[0], "must not be empty (leave [tls] out: TLS flows then stay inconclusive)")
    if given[0] == "keylog":
        # the loader has made the name absolute: an empty one is the rig file's folder by then
        if not Path(value).name.strip() or Path(value).is_dir():
            raise table.fail("keylog", "must name the file the ECU writes its key log to, not a folder")
        return KeylogSource(path=Path(value), timeout_s=timeout)
    try:
        argv = tuple(shlex.split(value))
    except ValueError as exc:
        raise table.fail("keylog_command", f"cannot be split into words ({exc}); quote it as a shell would") \
            from None
    return KeylogSource(command=argv, timeout_s=timeout)


def judged(text: str, where: str, during_test: bool) -> Fetched:
    """The text as a key log, with the one-line problem when it holds no usable secret or garbled lines."""
    log = parse_keylog(text, where)
    lines = sum(1 for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
    scope = " during the test" if during_test else ""
    problem = None
    if not lines:
        problem = f"key log {where}: no line was written{scope}"
    elif not len(log):
        problem = (f"key log {where} is garbled: none of its {lines} line{'s' if lines != 1 else ''}{scope} "
                   f"is an NSS key-log line ({NSS_FORM})")
    elif log.skipped:
        problem = f"key log {where}: {log.skipped} of its {lines} lines{scope} are not NSS key-log lines"
    return Fetched(text, len(log), lines, problem)


def _failed(problem: str) -> Fetched:
    return Fetched("", 0, 0, problem, read=False)


class KeylogFetcher:
    """Reads the source for one test at a time: `begin()` at the test's start, `fetch()` at its end."""

    def __init__(self, source: KeylogSource) -> None:
        self.source = source
        self._start: tuple[int, int, int, bytes] | None = None  # device, inode, offset, bytes before it
        self._seen: set[str] = set()

    # -- a file the ECU writes ----------------------------------------------------------------
    def begin(self) -> None:
        """Remember where the file ends now: the test's lines are those written after it."""
        if self.source.path is None:
            return
        try:
            with self.source.path.open("rb") as handle:
                info = os.fstat(handle.fileno())
                head = max(0, info.st_size - 4096)
                handle.seek(head)
                tail = handle.read()
        except OSError:
            self._start = None  # not there yet: whatever it holds at the end was written during the test
            return
        # a line being written as the test starts belongs to a session the capture cannot hold whole;
        # starting at its beginning keeps it from reading as a garbled line
        offset = head + tail.rfind(b"\n") + 1 if b"\n" in tail else head
        self._start = (info.st_dev, info.st_ino, offset, tail[:offset - head][-_TAIL:])

    def _read_file(self, path: Path) -> tuple[bytes, bool]:
        """The bytes written since `begin()`: all of them where the file was replaced or truncated since."""
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            start = self._start
            offset = 0
            if start is not None and (start[0], start[1]) == (info.st_dev, info.st_ino) and start[2] <= info.st_size:
                handle.seek(start[2] - len(start[3]))
                if handle.read(len(start[3])) == start[3]:
                    offset = start[2]
            handle.seek(offset)
            return handle.read(), offset > 0

    def _from_file(self, path: Path, whole: bool) -> Fetched:
        try:
            if whole:
                data = path.read_bytes()
            else:
                data, _ = self._read_file(path)
        except FileNotFoundError:
            return _failed(f"key log {path} not found")
        except OSError as exc:
            return _failed(f"key log {path} cannot be read: {exc.strerror or exc}")
        return judged(data.decode("ascii", "replace"), str(path), not whole)

    # -- a command that prints it -------------------------------------------------------------
    def _run(self) -> tuple[str | None, str | None]:
        """The command's stdout, or the one-line reason there is none."""
        where = self.source.describe()
        try:
            # a session of its own, so a timeout ends the whole command (`sh -c`, ssh's children), not only its head
            process = subprocess.Popen(self.source.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, start_new_session=True)
        except OSError as exc:
            return None, f"key log command {where} cannot start: {exc.strerror or exc}"
        try:
            out, err = process.communicate(timeout=self.source.timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:  # a daemon the command left behind may hold its pipes open: do not wait on it for long
                process.communicate(timeout=2)
            except subprocess.TimeoutExpired:
                for pipe in (process.stdout, process.stderr):
                    if pipe is not None:
                        pipe.close()
            return None, f"key log command {where} did not finish within {self.source.timeout_s:g} s"
        if process.returncode != 0:
            said = [line for line in err.decode("utf-8", "replace").splitlines() if line.strip()]
            return None, (f"key log command {where} exited with status {process.returncode}"
                          + (f": {said[-1].strip()[:200]}" if said else ""))
        return out.decode("ascii", "replace"), None

    def _from_command(self, whole: bool) -> Fetched:
        out, problem = self._run()
        if out is None:
            return _failed(problem or "")
        lines = out.splitlines()
        if whole:
            return judged(out, self.source.describe(), False)
        # the command may print the whole log every time: the test's lines are those not printed before
        fresh = [line for line in lines if line.strip() and line not in self._seen]
        self._seen.update(lines)
        return judged("".join(line + "\n" for line in fresh), self.source.describe(), True)

    # -- per test ------------------------------------------------------------------------------
    def prime(self) -> None:
        """Lines a command prints before the first test belong to no test of this run."""
        if self.source.command:
            out, _ = self._run()
            if out is not None:
                self._seen.update(out.splitlines())

    def fetch(self) -> Fetched:
        """The key log written during the test (since `begin()`, or since the last fetch for a command)."""
        if self.source.path is not None:
            return self._from_file(self.source.path, whole=False)
        return self._from_command(whole=False)

    def probe(self) -> Fetched:
        """The whole key log as the source gives it now (what `rig check` reports)."""
        if self.source.path is not None:
            return self._from_file(self.source.path, whole=True)
        return self._from_command(whole=True)
