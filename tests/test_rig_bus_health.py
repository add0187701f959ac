"""A bench where no traffic is seen or the bus goes bus-off gives error or inconclusive, never pass: the
`can-bus` check on recorded evidence, the recorder's error frames for interfaces that report a state or
raise instead, and the whole path through `harness run`, serially and on parallel rigs (`-n 2`) with the
same verdicts."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import can
import pytest

from harness.can import bus_errors
from harness.can.codec import VehicleCodec
from harness.can.recorder import CanRecorder
from harness.checks.bus import check_can_bus
from harness.cli import main
from harness.findings import Verdict
from harness.net.evidence import load_evidence
from harness.net.pcapfile import merge, socketcan_frame
from harness.policy.policy import Policy
from harness.policy.profile import load_profile
from harness.rig.config import load_rig
from tests.data.bench_fakes import bench_rig
from tests.harness_runner import RunResult, harness_run, leftover_namespaces

ROOT = Path(__file__).resolve().parent.parent
CODEC = VehicleCodec.load(ROOT / "dbc" / "vehicle.dbc", ROOT / "dbc" / "vehicle.signals.toml")
RULE = "locality.regulated-data"


@pytest.fixture(scope="module")
def policy() -> Policy:
    return Policy(load_profile("cn"), load_rig(ROOT / "rigs" / "virtual.toml").netmap)


def _frames(names: list[str], start: float, end: float) -> list[tuple[float, bytes]]:
    """Each message on its cycle from `start` to `end`, as the recorder would have it."""
    out = []
    for name in names:
        message = CODEC.message(name)
        frame = CODEC.encode(message, CODEC.initial_values(message))
        t = start
        while t < end:
            out.append((t, socketcan_frame(frame.arbitration_id, bytes(frame.data))))
            t += (message.cycle_time or 100) / 1000.0
    return out


def _judge(tmp_path: Path, policy: Policy, frames: list[tuple[float, bytes]]) -> list[tuple[Verdict, str]]:
    capture = tmp_path / "capture.pcapng"
    merge([], "up0", sorted(frames), "can0", capture, stats=(0, 0))
    return [(f.verdict, f.detail) for f in check_can_bus(load_evidence(capture, CODEC), policy, rule_id=RULE)]


ECU = ["OtaStatus", "OtaNotice", "DriveInhibit", "PerformanceLimits"]
REST = ["GlobalTimeSync", "VehicleMotion", "BatteryStatus"]


def test_healthy_bus_adds_nothing(tmp_path: Path, policy: Policy) -> None:
    assert _judge(tmp_path, policy, _frames(ECU + REST, 100.0, 105.0)) == []


def test_silent_bus_is_an_error(tmp_path: Path, policy: Policy) -> None:
    [(verdict, detail)] = _judge(tmp_path, policy, [])
    assert verdict is Verdict.ERROR and "no CAN frame" in detail


def test_silent_ecu_is_an_error(tmp_path: Path, policy: Policy) -> None:
    [(verdict, detail)] = _judge(tmp_path, policy, _frames(REST, 100.0, 105.0))
    assert verdict is Verdict.ERROR and "sent none of its messages" in detail and "OtaStatus" in detail


def test_ecu_that_stops_sending_is_an_error(tmp_path: Path, policy: Policy) -> None:
    frames = _frames(ECU, 100.0, 101.0) + _frames(REST, 100.0, 105.0)
    [(verdict, detail)] = _judge(tmp_path, policy, frames)
    assert verdict is Verdict.ERROR and "stopped sending" in detail


def test_bus_off_is_an_error_and_other_error_frames_inconclusive(tmp_path: Path, policy: Policy) -> None:
    healthy = _frames(ECU + REST, 100.0, 105.0)
    bus_off = (102.0, socketcan_frame(bus_errors.BUS_OFF, bytes(8), error=True))
    [(verdict, detail)] = _judge(tmp_path, policy, [*healthy, bus_off])
    assert verdict is Verdict.ERROR and "bus-off" in detail
    passive = (102.0, socketcan_frame(bus_errors.CONTROLLER, bytes([0, 0x30, 0, 0, 0, 0, 0, 0]), error=True))
    [(verdict, detail)] = _judge(tmp_path, policy, [*healthy, passive])
    assert verdict is Verdict.INCONCLUSIVE and "error-passive" in detail


def test_recorder_turns_states_and_receive_errors_into_error_frames() -> None:
    recorder = CanRecorder()
    recorder.note_state(can.BusState.ACTIVE)
    recorder.note_state(can.BusState.ERROR)  # python-can's name for a controller that left the bus
    recorder.on_error(can.CanOperationError("PCAN_ERROR_BUSOFF: bus-off state"))
    recorder.on_error(can.CanOperationError("receive queue overrun"))
    frames = recorder.frames()
    assert all(f.is_error_frame for f in frames) and len(frames) == 3
    errors = [bus_errors.CanError(f.timestamp, f.arbitration_id, f.data) for f in frames]
    assert [e.bus_off for e in errors] == [True, True, False]
    assert "buffer overflow" in errors[2].describe()


SUITE = str(ROOT / "tests" / "data" / "bus_faults" / "bus_fault_suite.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, RunResult]:
    """The fault suite through `harness run`, serially and on two parallel virtual rigs at the same time."""
    with ThreadPoolExecutor(2) as pool:
        serial = pool.submit(harness_run, tmp_path_factory.mktemp("serial"), SUITE, "--no-allure-report")
        parallel = pool.submit(harness_run, tmp_path_factory.mktemp("parallel"), SUITE, "--no-allure-report",
                               "-n", "2")
        return serial.result(), parallel.result()


def test_bus_faults_through_harness_run(runs: tuple[RunResult, RunResult]) -> None:
    run = runs[0]
    tests = {t["name"]: t for t in run.results["tests"]}
    assert tests["test_healthy_bus"]["verdict"] == "pass", tests["test_healthy_bus"]["reason"]
    for name, text in (("test_bus_goes_off_during_the_test", "bus-off"),
                       ("test_ecu_goes_silent_during_the_test", "stopped sending")):
        test = tests[name]
        assert test["verdict"] == "error", (name, test["verdict"], test["reason"])
        bus = [f for f in test["findings"] if f["check"] == "can-bus"]
        assert bus and bus[0]["verdict"] == "error" and text in bus[0]["detail"], test["findings"]
        # the locality check itself found nothing wrong: only the bus keeps this from passing
        assert {f["verdict"] for f in test["findings"] if f["check"] != "can-bus"} == {"pass"}
    assert run.status == 4 and not leftover_namespaces(run)


def test_parallel_run_gives_the_serial_verdicts(runs: tuple[RunResult, RunResult]) -> None:
    """-n 2: each worker brings up its own rig; the controller merges the workers' records into one run."""
    serial, parallel = runs
    assert parallel.status == serial.status, parallel.stderr[-2000:]
    assert "[gw0]" in parallel.stdout and "[gw1]" in parallel.stdout  # both workers ran tests
    mine, theirs = serial.results["tests"], parallel.results["tests"]
    assert [t["nodeid"] for t in theirs] == [t["nodeid"] for t in mine]  # merged in collection order
    for a, b in zip(mine, theirs, strict=True):
        assert (b["verdict"], [(f["check"], f["verdict"]) for f in b["findings"] if f["check"] == "can-bus"]) == \
            (a["verdict"], [(f["check"], f["verdict"]) for f in a["findings"] if f["check"] == "can-bus"]), a["name"]
        assert (parallel.reports / b["evidence"]["capture"]).is_file()
    junit = (parallel.reports / "junit.xml").read_text(encoding="utf-8")
    serial_junit = (serial.reports / "junit.xml").read_text(encoding="utf-8")
    assert junit.count("<testcase ") == serial_junit.count("<testcase ") and "harness-test-record" not in junit
    assert not leftover_namespaces(parallel)


def test_parallel_runs_need_a_virtual_rig(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--rig", str(ROOT / "rigs" / "socketcan.toml"), "-n", "2"]) == 2
    assert "parallel runs need a virtual rig" in capsys.readouterr().err


def test_bench_without_an_ecu_gives_error_not_pass(tmp_path: Path) -> None:
    """`harness run` on a bench whose ECU is silent (here: nothing on the bench's CAN channel at all)."""
    rig = bench_rig(tmp_path, "silent-bench")
    run = harness_run(tmp_path / "reports", "--rig", str(rig), "--no-allure-report",
                      str(ROOT / "suites" / "ota" / "test_owner_consent.py"), "-k", "before_owner_accepts")
    [test] = run.results["tests"]
    assert test["verdict"] == "error" and "sent no" in test["reason"], test["reason"]
    assert run.status == 4
