"""The fault matrix: a fault injected into a live `harness run` on the virtual rig makes the affected test
`inconclusive` or `error`, never `pass`, and the run leaves no namespace and no process behind.

The faults without a test here are proved elsewhere (the README's table names each test): a capturer that
cannot start and a vECU killed mid-test (tests/test_bad_input.py), bus-off, error frames and a silent bus
or ECU (tests/test_rig_bus_health.py), drop counters (tests/test_checks.py)."""

from __future__ import annotations

import os
import random
import re
import resource
import string
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.harness_runner import ROOT, RunResult, harness_run, leftover_namespaces

SUITE = str(ROOT / "tests" / "data" / "faults" / "fault_suite.py")
# under `-n 2 --dist loadgroup` the module's live runs happen once, on one worker
pytestmark = pytest.mark.xdist_group("fault_matrix")
FILE_LIMIT = 64 * 1024  # bytes any one file of the run may reach: evidence writes fail as on a full disk


def _limited_run(reports: Path, limit: int, *args: str) -> RunResult:
    """`harness run` with a file-size limit on it and its children (writes beyond it fail with EFBIG)."""
    tag = "".join(random.choices(string.ascii_lowercase, k=6))

    def limit_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--reports", str(reports),
                           "--no-allure-report", *args], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False, preexec_fn=limit_files, env={**os.environ, "HARNESS_RIG_TAG": tag})
    return RunResult(done.returncode, done.stdout, done.stderr, reports, tag)


def _chattr_works(directory: Path) -> bool:
    probe = directory / "immutable-probe"
    probe.mkdir()
    try:
        if subprocess.run(["chattr", "+i", str(probe)], capture_output=True, check=False).returncode != 0:
            return False
        blocked = subprocess.run(["touch", str(probe / "x")], capture_output=True, check=False).returncode != 0
        subprocess.run(["chattr", "-i", str(probe)], capture_output=True, check=True)
        return blocked
    except FileNotFoundError:  # e2fsprogs is not installed
        return False


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, RunResult]:
    """The fault suite, and one conformance test on a disk that fills up, at the same time."""
    with ThreadPoolExecutor(2) as pool:
        faults = pool.submit(harness_run, tmp_path_factory.mktemp("faults"), SUITE)
        full = pool.submit(_limited_run, tmp_path_factory.mktemp("full"), FILE_LIMIT,
                           "-k", "test_nothing_leaves_after_consent_is_withdrawn")
        return {"faults": faults.result(), "full": full.result()}


def _left_processes(run: RunResult) -> list[str]:
    """Processes of that run still alive: a vECU in its namespaces, a capturer writing into its reports."""
    mine = re.compile(rf"hv\d+{run.tag}[a-z]+|{re.escape(str(run.reports))}")
    left = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if proc.name.isdigit() and int(proc.name) != os.getpid() and mine.search(argv):
            left.append(f"{proc.name}: {argv[:120]}")
    return left


def _verdict(run: RunResult, name: str) -> tuple[str, str]:
    tests = {t["name"]: t for t in run.results["tests"]}
    assert name in tests, (sorted(tests), run.stdout[-3000:])
    return tests[name]["verdict"], tests[name]["reason"]


# each fault: the suite test that injects it, and what its reason must say (so the fault really happened)
FAULTS = [
    pytest.param("test_capturer_killed_mid_test", ("capture incomplete",), id="capturer-killed"),
    pytest.param("test_evidence_directory_becomes_unwritable", ("Operation not permitted", "capture.pcapng"),
                 id="evidence-unwritable"),
    pytest.param("test_vehicle_clock_jumps_back", ("the vehicle clock went back",), id="clock-jumps-back"),
]


@pytest.mark.parametrize(("test", "words"), FAULTS)
def test_fault_is_never_a_pass(runs: dict[str, RunResult], test: str, words: tuple[str, ...], tmp_path: Path) -> None:
    if "unwritable" in test and not _chattr_works(tmp_path):
        pytest.skip("chattr +i (e2fsprogs) does not make a directory immutable here: the fault cannot be injected")
    run = runs["faults"]
    verdict, reason = _verdict(run, test)
    assert verdict in ("inconclusive", "error"), (verdict, reason)
    for word in words:
        assert word in reason, reason
    assert run.status in (3, 4) and "Traceback" not in run.stderr


# faults that leave the vehicle nothing to send: the check judges, on its own, that nothing was exercised
# (resets and name lookups that got no answer are not what the vehicle sends), whatever else the rig adds
# (a vECU that waits on its failing connections may also fall silent on CAN: error)
NOTHING_SENT = [
    pytest.param("test_cloud_refuses_connections", "locality", id="cloud-refuses"),
    pytest.param("test_resolver_down_personal_data", "locality", id="resolver-down-locality"),
    pytest.param("test_resolver_down_declared_purpose", "minimization", id="resolver-down-minimization"),
]


@pytest.mark.parametrize(("test", "check"), NOTHING_SENT)
def test_nothing_sent_is_never_a_pass(runs: dict[str, RunResult], test: str, check: str) -> None:
    run = runs["faults"]
    verdict, reason = _verdict(run, test)
    assert verdict in ("inconclusive", "error"), (verdict, reason)
    findings = [f for t in run.results["tests"] if t["name"] == test for f in t["findings"] if f["check"] == check]
    assert any(f["verdict"] == "inconclusive" and "carried payload" in f["detail"] for f in findings), findings
    assert run.status in (3, 4) and "Traceback" not in run.stderr


def test_full_evidence_disk_is_an_error(runs: dict[str, RunResult]) -> None:
    run = runs["full"]
    verdict, reason = _verdict(run, "test_nothing_leaves_after_consent_is_withdrawn")
    assert verdict == "error" and "File too large" in reason, (verdict, reason)
    assert run.status == 4


def test_evidence_directory_that_cannot_be_made_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "evidence").write_bytes(b"")  # where the run would put its evidence directory
    run = harness_run(tmp_path, "-k", "test_nothing_leaves_after_consent_is_withdrawn")
    verdict, reason = _verdict(run, "test_nothing_leaves_after_consent_is_withdrawn")
    assert verdict == "error" and "File exists" in reason, (verdict, reason)
    assert run.status == 4 and not leftover_namespaces(run) and not _left_processes(run)


@pytest.mark.parametrize("name", ["faults", "full"])
def test_nothing_is_left_behind(runs: dict[str, RunResult], name: str) -> None:
    run = runs[name]
    assert not leftover_namespaces(run), leftover_namespaces(run)
    assert not _left_processes(run), _left_processes(run)

