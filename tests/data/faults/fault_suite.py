"""Suite tests on a virtual rig that fails during the test (run by tests/test_fault_matrix.py through
`harness run`): whatever the test's own check finds, the verdict must not be pass."""

import os
import signal
import subprocess
from pathlib import Path

import pytest

from harness.checks.consent import check_consent_withdrawal
from harness.checks.locality import check_locality
from suites.locality.test_personal_data import test_personal_data_stays_in_jurisdiction as personal_data_test
from suites.minimization.test_declared_purpose import (
    test_each_endpoint_receives_only_its_declared_categories as declared_purpose_test,
)


def _kill_capturer(directory: Path) -> int:
    """SIGKILL the dumpcap writing into `directory`, found like an operator would: by its command line."""
    killed = 0
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"dumpcap") for a in argv) and any(str(directory).encode() in a for a in argv):
            os.kill(int(proc.name), signal.SIGKILL)
            killed += 1
    return killed


@pytest.mark.clause("locality.regulated-data")
def test_capturer_killed_mid_test(rig, vehicle, vecu, capture, judge):
    """The vehicle drives and reports; a minute in, the capturer is killed. Expect no pass: what
    followed was not captured."""
    vehicle.consent(location=True)
    vehicle.drive(50)
    rig.clock.sleep(60)
    assert _kill_capturer(capture.observation.directory) == 1
    rig.clock.sleep(60)
    judge(check_locality)


@pytest.mark.clause("locality.regulated-data")
def test_evidence_directory_becomes_unwritable(rig, vehicle, vecu, capture, judge):
    """The vehicle drives and reports; a minute in, the test's evidence directory becomes immutable
    (as a disk remounted read-only), so the capture cannot be written out. Expect error."""
    vehicle.consent(location=True)
    vehicle.drive(50)
    rig.clock.sleep(60)
    directory = capture.observation.directory
    subprocess.run(["chattr", "+i", str(directory)], check=True)
    try:
        rig.clock.sleep(60)
        judge(check_locality)
    finally:
        subprocess.run(["chattr", "-i", str(directory)], check=True)


@pytest.mark.clause("minimization.consent")
def test_vehicle_clock_jumps_back(rig, vehicle, vecu, judge):
    """Location sharing is on while the vehicle drives, then switched off; right after, the vehicle
    clock jumps back an hour. Expect no pass: the time between the switch and what the vehicle sent
    cannot be measured on a clock that went backwards."""
    vehicle.consent(location=True)
    vehicle.drive(50)
    rig.clock.sleep(60)
    vehicle.consent(location=False)
    rig.clock.advance(-3600)
    rig.clock.sleep(120)
    judge(check_consent_withdrawal, latency_s=2.0)


def _resolver_down(rig) -> None:
    """The cloud's DNS resolver stops, UDP and TCP, while the rest of the cloud keeps serving: the
    vehicle's lookups meet port unreachable and resets. It stays down for the rest of the run."""
    assert rig.servers.stop("resolver") == 2


@pytest.mark.clause("locality.regulated-data")
def test_resolver_down_personal_data(rig, policy, vehicle, request, explore, judge):
    """The suite's personal-data locality test, with the cloud's DNS resolver down before the ECU
    starts: every service the vehicle dials by name is out of reach. Expect no pass: what the vehicle
    would send was never seen."""
    _resolver_down(rig)
    personal_data_test(rig, policy, vehicle, request.getfixturevalue("vecu"), explore, judge)


@pytest.mark.clause("minimization.declared-purpose")
def test_resolver_down_declared_purpose(rig, policy, vehicle, vecu, explore, judge):
    """The suite's declared-purpose minimization test with the resolver still down (the test above
    stopped it). Expect no pass: name lookups alone show no destination what it receives."""
    declared_purpose_test(rig, policy, vehicle, vecu, explore, judge)


@pytest.mark.clause("locality.regulated-data")
def test_cloud_refuses_connections(rig, vehicle, request, judge):
    """Every simulated endpoint stops listening before the ECU starts (the kernel answers with resets);
    the vehicle drives with location sharing on. Expect no pass: nothing the vehicle meant to send
    was seen."""
    rig.servers.close()
    request.getfixturevalue("vecu")
    vehicle.consent(location=True)
    vehicle.drive(50)
    rig.clock.sleep(120)
    judge(check_locality)
