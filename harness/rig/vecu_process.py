"""The reference vECU as a separate process inside the vehicle namespace.

Started per test so every test meets a fresh ECU; its stderr goes to a log beside the evidence,
and a start failure or an early death is reported with the last line it printed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

from harness.errors import RigError
from harness.rig.netns import die_with_parent, exec_argv


class VecuProcess:
    def __init__(self, rig_path: Path, vehicle_ns: str, can_ns: str, defects: tuple[str, ...],
                 trust_anchor: Path, log_path: Path, state_dir: Path | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.log_path = log_path
        self.env = dict(env or {})  # what the rig hands the ECU beside its arguments (e.g. its TLS material)
        argv = [sys.executable, "-m", "harness.vecu", "--rig", str(rig_path), "--can-netns", can_ns,
                "--ota-trust-anchor", str(trust_anchor)]
        if state_dir is not None:  # its non-volatile memory, kept across power cycles within the test
            argv += ["--state-dir", str(state_dir)]
        for defect in defects:
            argv += ["--defect", defect]
        self.argv = exec_argv(vehicle_ns, argv)
        self._process: subprocess.Popen[str] | None = None
        self._ready = threading.Event()

    def start(self, timeout: float = 20.0) -> None:
        self._ready.clear()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("a" if self._process is not None else "w", encoding="utf-8")  # a restart appends
        env = dict(os.environ, PYTHONUNBUFFERED="1", **self.env)
        self._process = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=log, text=True, env=env, start_new_session=True,
                                         preexec_fn=die_with_parent)
        log.close()
        threading.Thread(target=self._watch_stdout, daemon=True).start()
        if not self._ready.wait(timeout):
            self.stop()
            raise RigError(f"vECU did not start within {timeout:.0f} s: {self.last_words()}")

    def _watch_stdout(self) -> None:
        assert self._process is not None and self._process.stdout is not None
        for line in self._process.stdout:
            if line.strip() == "ready":
                self._ready.set()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def alive(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process else None

    def last_words(self) -> str:
        try:
            lines = [line for line in self.log_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except OSError:
            lines = []
        code = self._process.poll() if self._process else None
        tail = lines[-1] if lines else "no output"
        return f"{tail} (exit status {code})" if code is not None else tail

    def power_cut(self) -> None:
        """Cut the ECU's power: SIGKILL, nothing is flushed or closed; start() powers it up again."""
        process = self._process
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()

    def stop(self, timeout: float = 5.0) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            pass
