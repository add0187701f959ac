"""Suite tests on a rig whose bus fails during the test (run by tests/test_rig_bus_health.py through
`harness run`): whatever the test's own check finds, the verdict must not be pass."""

import can
import pytest

from harness.can.bus_errors import BUS_OFF
from harness.checks.locality import check_locality


@pytest.mark.clause("locality.regulated-data")
def test_bus_goes_off_during_the_test(rig, vehicle, vecu, judge):
    """The vehicle drives; halfway the controller reports bus-off. Expect error, not pass."""
    vehicle.drive(50)
    rig.clock.sleep(60)
    rig.tx.bus.send(can.Message(arbitration_id=BUS_OFF, data=bytes(8), is_error_frame=True))
    rig.clock.sleep(60)
    judge(check_locality)


@pytest.mark.clause("locality.regulated-data")
def test_ecu_goes_silent_during_the_test(rig, vehicle, vecu, judge):
    """The vehicle drives; then the ECU stops sending (power or cable lost) for three seconds before
    the judgment. Expect error, not pass."""
    vehicle.drive(50)
    rig.clock.sleep(60)
    vecu.stop()
    rig.clock.sleep(300)  # 3 s of wall time at time_scale 100
    judge(check_locality)


@pytest.mark.clause("locality.regulated-data")
def test_healthy_bus(rig, vehicle, vecu, judge):
    """The same drive on a healthy bus. Expect pass: the bus check lowers only what it must."""
    vehicle.drive(50)
    rig.clock.sleep(120)
    judge(check_locality)
