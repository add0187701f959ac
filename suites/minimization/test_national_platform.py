"""The national monitoring platform (GB/T 32960): what the standard requires, nothing beyond it."""

import pytest

from harness.checks.national_platform import check_national_platform
from harness.scenarios.drive import DriveCycle, play
from harness.scenarios.strategies import drive_cycles

# information units GB/T 32960.3 requires of a battery-electric vehicle's real-time report:
# whole vehicle, drive motors, position, extreme values, alarms
BEV_UNITS = [0x01, 0x02, 0x05, 0x06, 0x07]


@pytest.mark.clause("minimization.national-platform-scope")
def test_national_platform_receives_only_the_standard_report(rig, vehicle, vecu, explore, judge):
    """The vehicle drives generated routes into and out of cities, with parking stops, reporting to
    the national monitoring platform. Expect a vehicle login, then real-time reports with the
    units the standard requires of a battery-electric vehicle, and nothing the standard does not
    define: no custom information units, no other protocol to the platform."""
    explore.run(drive_cycles(), lambda cycle: play(cycle, vehicle, rig.clock), describe=DriveCycle.describe)
    judge(check_national_platform, required_units=BEV_UNITS)
