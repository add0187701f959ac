"""OTA: a programming session over diagnostics is refused unless the vehicle is parked."""

import pytest

from harness.checks.ota_diagnostics import check_programming_session
from harness.scenarios.vehicle_states import MOTION, put, situation

DEFAULT, PROGRAMMING = 0x01, 0x02
REFUSED_IN = ("driving", "creeping-in-drive", "stopped-in-neutral", "parked-brake-released")


@pytest.mark.clause("ota.diagnostic-session-safety")
def test_programming_session_refused_while_driving(bus, vehicle, vecu, uds, judge):
    """Over ISO-TP on the CAN bus, and over DoIP after routing activation on the vehicle's IP side, a
    tester asks for a programming session (UDS 0x10 0x02) while the vehicle drives at 50 km/h, creeps
    at 3 km/h in D, stands in N with the parking brake applied, and stands in P with the parking
    brake released; then once parked. Expect each refused with NRC 0x22 conditionsNotCorrect; once
    parked no safety condition applies (granted or refused, as the ECU's access rules decide)."""
    for transport in (uds.over_can, uds.over_doip):
        with transport() as tester:
            for state in (*REFUSED_IN, "parked"):
                put(vehicle, state, bus.monitor)
                tester.session(DEFAULT)
                tester.session(PROGRAMMING)
            tester.session(DEFAULT)
    request_id, response_id = uds.can_ids
    situations = {name: values for state in (*REFUSED_IN, "parked")
                  for name, values in situation(state, MOTION).items()}
    judge(check_programming_session, transports=["isotp", "doip"], can_request_id=request_id,
          can_response_id=response_id, situations=situations)
