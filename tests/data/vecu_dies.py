"""A conformance test whose ECU dies half-way: the verdict must be error, never pass."""

import os
import signal

import pytest

from harness.checks.locality import check_locality


@pytest.mark.clause("locality.regulated-data")
def test_ecu_killed_mid_test(rig, vehicle, vecu, judge):
    """The vECU is killed after a minute of reporting. Expect an error verdict."""
    rig.clock.sleep(60)
    os.killpg(vecu.pid, signal.SIGKILL)
    rig.clock.sleep(60)
    judge(check_locality)
