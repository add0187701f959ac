"""Packet capture at the rig's mirror point with dumpcap, and the capturer's own drop counters.

dumpcap keeps up where Python sniffers lose most of a burst; its counters decide whether the
capture is complete enough for a verdict other than inconclusive."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.errors import RigError
from harness.rig.netns import exec_argv

SETTLE_S = 0.6  # longer than libpcap's ring-block timeout on Linux

_STATS = re.compile(
    r"Packets received/dropped on interface '(?P<iface>[^']*)': (?P<received>\d+)/(?P<dropped>\d+) "
    r"\(pcap:(?P<pcap>\d+)/dumpcap:(?P<dumpcap>\d+)/flushed:(?P<flushed>\d+)/ps_ifdrop:(?P<ifdrop>\d+)\)"
)


@dataclass(frozen=True)
class CaptureStats:
    """What the capturer says it saw; `complete` is False when it lost anything or did not report."""

    received: int
    dropped: int
    reported: bool
    message: str = ""

    @property
    def complete(self) -> bool:
        return self.reported and self.dropped == 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"complete": self.complete}


def parse_dumpcap_stats(stderr: str) -> CaptureStats:
    matches = list(_STATS.finditer(stderr))
    if not matches:
        last = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        return CaptureStats(0, 0, reported=False, message=f"dumpcap reported no statistics ({last})")
    received = sum(int(m["received"]) for m in matches)
    # dumpcap's "dropped" is pcap + dumpcap + flushed; drops at the interface (ps_ifdrop) come on top
    dropped = sum(int(m["dropped"]) + int(m["ifdrop"]) for m in matches)
    return CaptureStats(received, dropped, reported=True)


class DumpcapCapture:
    """One capture file; start() returns once dumpcap is capturing, stop() returns its stats."""

    def __init__(self, interface: str, path: Path, namespace: str | None = None, buffer_mb: int = 64) -> None:
        self.interface, self.path, self.namespace, self.buffer_mb = interface, path, namespace, buffer_mb
        self._process: subprocess.Popen[str] | None = None
        self._stderr: list[str] = []
        self._ready = threading.Event()

    def start(self, timeout: float = 10.0) -> None:
        binary = shutil.which("dumpcap")
        if binary is None:
            raise RigError("capture needs dumpcap: apt-get install tshark (or wireshark-common)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        argv = [binary, "-i", self.interface, "-w", str(self.path), "-B", str(self.buffer_mb), "-n"]
        if self.namespace:
            argv = exec_argv(self.namespace, argv)
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, text=True, start_new_session=True)
        threading.Thread(target=self._read_stderr, daemon=True).start()
        deadline = time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                detail = " ".join(self._stderr).strip() or "no output"
                raise RigError(f"capture on {self.interface!r} did not start: {detail[:300]}")
        # "Capturing on" comes just before the ring buffer is live: let it settle before traffic
        time.sleep(SETTLE_S)

    def _read_stderr(self) -> None:
        assert self._process is not None and self._process.stderr is not None
        for line in self._process.stderr:
            self._stderr.append(line)
            if line.startswith("Capturing on"):
                self._ready.set()

    def stop(self, timeout: float = 10.0) -> CaptureStats:
        process = self._process
        if process is None:
            return CaptureStats(0, 0, reported=False, message="capture was never started")
        if process.poll() is None:
            # packets still in the kernel's current ring block are lost at SIGINT without being counted
            # as drops; wait for the block to retire so the last moments before judgment are kept
            time.sleep(SETTLE_S)
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                return CaptureStats(0, 0, reported=False, message="dumpcap did not stop; capture may be cut")
        # the reader thread drains stderr until EOF, which follows the exit
        for _ in range(100):
            if any(_STATS.search(line) for line in self._stderr) or process.stderr is None or process.stderr.closed:
                break
            time.sleep(0.01)
        stats = parse_dumpcap_stats("".join(self._stderr))
        if process.returncode not in (0, None) and stats.reported is False:
            return CaptureStats(0, 0, reported=False, message=f"dumpcap exited {process.returncode}")
        return stats

    def kill(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
