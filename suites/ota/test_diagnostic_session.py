"""OTA: a programming session over diagnostics is refused while the vehicle is driving."""

import pytest

from harness.checks.ota_diagnostics import check_programming_session
from harness.scenarios.vehicle_states import put

DEFAULT, PROGRAMMING = 0x01, 0x02


@pytest.mark.clause("ota.diagnostic-session-safety")
def test_programming_session_refused_while_driving(bus, vehicle, vecu, uds, judge):
    """While the vehicle drives at 50 km/h a tester asks for the default session, then a programming
    session (UDS 0x10 0x02): over ISO-TP on the CAN bus, and over DoIP after routing activation on
    the vehicle's IP side; once parked it asks again. Expect the programming session refused with NRC
    0x22 conditionsNotCorrect on both while driving."""
    for transport in (uds.over_can, uds.over_doip):
        put(vehicle, "driving", bus.monitor)
        with transport() as tester:
            tester.session(DEFAULT)
            tester.session(PROGRAMMING)
            put(vehicle, "parked", bus.monitor)
            tester.session(PROGRAMMING)
            tester.session(DEFAULT)
    request_id, response_id = uds.can_ids
    judge(check_programming_session, transports=["isotp", "doip"], can_request_id=request_id,
          can_response_id=response_id)
