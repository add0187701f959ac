"""The TSP's MQTT broker: Eclipse Mosquitto (Debian's `mosquitto`), started inside the cloud
namespace on the rig's address with the rig's TLS settings, so the vehicle meets a real broker's
handshake, session and QoS handling rather than the harness's idea of one.

What the broker receives is not evidence: the capture is. It runs as a child process the rig owns
and stops with the rig."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from harness.errors import RigError
from harness.rig import netns
from harness.rig.config import Endpoint
from harness.scenarios.rig_ca import RigCa

START_TIMEOUT_S = 5.0


def mosquitto_path() -> str:
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RigError("the virtual rig's MQTT broker is Mosquitto: apt-get install mosquitto "
                       "(scripts/bootstrap installs it)")
    return found


def config_text(endpoints: Sequence[Endpoint], ca: RigCa | None, directory: Path) -> str:
    """A mosquitto.conf with a listener per endpoint (each broker the rig lists is one listener of the
    same process); TLS, mutual where the endpoint asks, from the rig CA."""
    lines = ["per_listener_settings false", "allow_anonymous true", "persistence false", "user root",
             "log_dest stderr", "log_type error", "log_type warning"]
    for endpoint in endpoints:
        lines.append(f"listener {endpoint.port} {endpoint.host}")
        if not endpoint.tls:
            continue
        if ca is None:
            raise RigError(f"{endpoint} speaks TLS but the rig has no CA to certify it")
        cert_file, key_file = ca.issue(endpoint.dial)
        lines += [f"cafile {ca.ca_file}", f"certfile {cert_file}", f"keyfile {key_file}", "tls_version tlsv1.2"]
        if endpoint.mutual:
            lines += ["require_certificate true"]
    return "\n".join(lines) + "\n"


class MosquittoBroker:
    """One broker process in `namespace`, listening for every endpoint given; `close()` stops it."""

    def __init__(self, namespace: str, endpoints: Sequence[Endpoint], ca: RigCa | None, directory: Path) -> None:
        self.namespace, self.endpoints = namespace, tuple(endpoints)
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "mosquitto.conf"
        self.config.write_text(config_text(self.endpoints, ca, directory), encoding="utf-8")
        self.log = directory / "mosquitto.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = netns.exec_argv(self.namespace, [mosquitto_path(), "-c", str(self.config)])
        with self.log.open("wb") as log:
            self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                             preexec_fn=netns.die_with_parent)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                break
            if all(self._listening(endpoint) for endpoint in self.endpoints):
                return
            time.sleep(0.02)
        words = self.log.read_text(errors="replace").strip().splitlines()
        self.close()
        where = ", ".join(map(str, self.endpoints))
        raise RigError(f"Mosquitto did not listen on {where} within {START_TIMEOUT_S:.0f} s"
                       + (f": {words[-1]}" if words else ""))

    def _listening(self, endpoint: Endpoint) -> bool:
        # asked from inside the cloud namespace, to its own address: nothing crosses the uplink
        family = socket.AF_INET6 if ":" in endpoint.host else socket.AF_INET
        with netns.entered(self.namespace):
            probe = socket.socket(family, socket.SOCK_STREAM)
        with probe:
            probe.settimeout(0.2)
            return probe.connect_ex((endpoint.host, endpoint.port)) == 0

    def close(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=3)
        self._process = None
