"""Data locality of the vehicle's position reports (GB/T 32960 real-time reports)."""

import pytest

from harness.checks.locality import check_locality
from harness.scenarios.vehicle import Waypoint

# A drive across central Shanghai: People's Square to Lujiazui and on to Century Park.
CITY_ROUTE = [Waypoint(31.2304, 121.4737), Waypoint(31.2397, 121.4998), Waypoint(31.2353, 121.5050),
              Waypoint(31.2196, 121.5447)]


@pytest.mark.clause("locality.regulated-data")
def test_position_reports_stay_in_jurisdiction(rig, vehicle, vecu, judge):
    """The vehicle drives across a city while reporting to the national monitoring platform.
    Expect no position, VIN or other regulated data to reach an endpoint outside the
    jurisdiction unless an approved export covers it."""
    vehicle.drive_route(CITY_ROUTE, speed_kph=50)
    rig.clock.sleep(180)  # three minutes of driving: some 18 real-time reports
    judge(check_locality)
