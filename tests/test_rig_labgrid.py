"""labgrid: a rig that names a place is acquired through a real labgrid coordinator (gRPC, on loopback)
and exporter started here with virtual resources; the CAN channel, mirror NIC and power switch come from
the place, the power switch is driven through labgrid's own driver, and the place is released after."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.rig.check import Status, check_rig
from harness.rig.config import load_rig
from harness.rig.session import RigSession
from tests.data.bench_fakes import DBC, MAPPING, ROOT, FakeEcu, LoopbackTraffic

pytest.importorskip("labgrid")

BIN = Path(sys.executable).parent
PLACE = "ecu-bench-test"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PowerSwitch(http.server.BaseHTTPRequestHandler):
    """A network power switch as labgrid's `simplerest` model drives it: GET /outlet/INDEX/VALUE."""

    calls: list[str] = []
    state = "0"

    def do_GET(self) -> None:  # noqa: N802 - the http.server protocol
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[2] in ("0", "1"):
            PowerSwitch.state = parts[2]
            PowerSwitch.calls.append(parts[2])
        self.send_response(200)
        self.end_headers()
        self.wfile.write(PowerSwitch.state.encode())

    def log_message(self, *args: object) -> None:
        pass


@dataclass
class Lab:
    coordinator: str
    can_channel: str
    env: dict[str, str]

    def client(self, *args: str, user: str | None = None) -> str:
        env = dict(self.env, **({"LG_USERNAME": user} if user else {}))
        done = subprocess.run([str(BIN / "labgrid-client"), "-x", self.coordinator, "-p", PLACE, *args],
                              capture_output=True, text=True, env=env, timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def acquired_by(self) -> str:
        line = next(line for line in self.client("show").splitlines() if line.strip().startswith("acquired:"))
        return line.split(":", 1)[1].strip()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    workdir = tmp_path_factory.mktemp("labgrid")
    port, power_port = _free_port(), _free_port()
    coordinator = f"127.0.0.1:{port}"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", power_port), PowerSwitch)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    can_channel = f"lgcan{os.getpid()}"
    (workdir / "exporter.yaml").write_text(
        "bench-test:\n"
        f"  CAN:\n    cls: NetworkInterface\n    ifname: {can_channel}\n"
        "  Mirror:\n    cls: NetworkInterface\n    ifname: lo\n"
        "  Power:\n    cls: NetworkPowerPort\n    model: simplerest\n"
        f"    host: 'http://127.0.0.1:{power_port}/outlet/{{index}}/{{value}}'\n    index: 3\n", encoding="utf-8")
    # gRPC honours proxy variables; the coordinator is on loopback and must be reached directly
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    log = (workdir / "labgrid.log").open("w")
    processes = [subprocess.Popen([str(BIN / "labgrid-coordinator"), "--listen", coordinator], cwd=workdir, env=env,
                                  stdout=log, stderr=subprocess.STDOUT)]
    try:
        _wait_listening(port, processes[0], workdir / "labgrid.log")  # an exporter started earlier gives up
        processes.append(subprocess.Popen(
            [str(BIN / "labgrid-exporter"), "-c", coordinator, "-n", "harness-test", "--hostname", "127.0.0.1",
             "exporter.yaml"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT))
        lab = Lab(coordinator, can_channel, env)
        deadline = time.monotonic() + 60
        while True:
            done = subprocess.run([str(BIN / "labgrid-client"), "-x", coordinator, "resources"], env=env,
                                  capture_output=True, text=True, timeout=30, check=False)
            if done.stdout.count("harness-test/bench-test/") == 3:
                break
            alive = all(p.poll() is None for p in processes)
            assert alive and time.monotonic() < deadline, \
                f"the exporter did not register its resources: {(workdir / 'labgrid.log').read_text()[-2000:]}"
            time.sleep(0.2)
        lab.client("create")
        lab.client("add-match", "harness-test/bench-test/*")
        yield lab
    finally:
        for process in reversed(processes):
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        server.shutdown()
        log.close()


def _wait_listening(port: int, process: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        assert process.poll() is None and time.monotonic() < deadline, \
            f"the coordinator did not start: {log.read_text()[-2000:]}"
        time.sleep(0.1)


def _rig(tmp_path: Path, lab: Lab, power: bool = True) -> Path:
    text = (f'netmap = "{ROOT / "rigs" / "bench-netmap.toml"}"\n'
            '[rig]\nname = "labgrid-bench"\nkind = "bench"\n'
            f'[labgrid]\nplace = "{PLACE}"\ncoordinator = "{lab.coordinator}"\ncan = "CAN"\nnetwork = "Mirror"\n'
            + ('power = "Power"\n' if power else "")
            + f'[can]\ninterface = "virtual"\nchannel = "from-the-place"\ndbc = "{DBC}"\nmapping = "{MAPPING}"\n'
            '[capture]\ninterface = "absent0"\n'
            "[timeouts]\ncan_traffic_s = 2.5\ncapture_s = 0.5\necu_alive_s = 3.0\n")
    path = tmp_path / "labgrid.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_rig_check_acquires_the_place_uses_its_resources_and_releases_it(tmp_path: Path, lab: Lab) -> None:
    PowerSwitch.calls.clear()
    with FakeEcu(lab.can_channel), LoopbackTraffic():
        report = check_rig(_rig(tmp_path, lab))
    rows = {row.item: row for row in report.rows}
    assert report.ready, [(r.item, r.status, r.detail) for r in report.rows]
    assert PLACE in rows["labgrid place"].detail and f"CAN channel {lab.can_channel}" in rows["labgrid place"].detail
    assert lab.can_channel in rows["CAN interface"].detail  # the file's channel was replaced by the place's
    assert rows["capture interface"].detail.startswith("lo:")
    assert rows["power switch"].status is Status.OK and PowerSwitch.calls == ["1"]  # switched on through labgrid
    assert lab.acquired_by() == "None"


def test_run_session_power_cycles_the_ecu_and_releases_the_place(tmp_path: Path, lab: Lab) -> None:
    PowerSwitch.calls.clear()
    rig = load_rig(_rig(tmp_path, lab))
    session = RigSession(rig, tmp_path / "evidence")
    with FakeEcu(lab.can_channel):
        session.start()
        try:
            assert lab.acquired_by() != "None"
            assert session.rig.can.channel == lab.can_channel and session.rig.capture.interface == "lo"
            ecu = session.vecu((), tmp_path / "ecu.log")
            ecu.start()  # a fresh ECU for the test: off, then on again
            session.wait_ecu_alive()
            assert ecu.alive()
        finally:
            session.close()
    assert PowerSwitch.calls == ["1", "0", "1"]
    assert lab.acquired_by() == "None"


def test_place_held_by_someone_else_is_reported_not_taken(tmp_path: Path, lab: Lab) -> None:
    lab.client("acquire", user="colleague")
    try:
        report = check_rig(_rig(tmp_path, lab, power=False))
    finally:
        lab.client("release", user="colleague")
    row = next(r for r in report.rows if r.item == "labgrid place")
    assert row.status is Status.FAIL and "already acquired" in row.detail and "colleague" in row.detail
    assert not report.ready and not any(r.item == "CAN interface" for r in report.rows)


def test_coordinator_that_does_not_answer(tmp_path: Path, lab: Lab) -> None:
    text = _rig(tmp_path, lab).read_text(encoding="utf-8").replace(lab.coordinator, f"127.0.0.1:{_free_port()}")
    path = tmp_path / "down.toml"
    path.write_text(text, encoding="utf-8")
    report = check_rig(path)
    row = next(r for r in report.rows if r.item == "labgrid place")
    assert row.status is Status.FAIL and "does not answer" in row.detail and not report.ready
