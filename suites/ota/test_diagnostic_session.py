"""OTA: a programming session over diagnostics is refused unless the vehicle is parked."""

import pytest

from harness.checks.ota_diagnostics import check_programming_session
from harness.scenarios.ota_preconditions import session_states
from harness.scenarios.vehicle_states import MOTION, change, put, situation

DEFAULT, PROGRAMMING = 0x01, 0x02
REFUSED_IN = ("driving", "creeping-in-drive", "stopped-in-neutral", "parked-brake-released")
EXAMPLES = 15   # generated states; each costs a state change and a request over ISO-TP


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


@pytest.mark.clause("ota.diagnostic-session-safety")
def test_programming_session_refused_around_every_boundary(bus, vehicle, vecu, uds, policy, explore, judge):
    """Over ISO-TP a tester asks for a programming session in one vehicle state after another:
    first stationary in P with the brake applied at exactly the standstill limit, then states
    hypothesis draws around the rule's boundaries (speed from 0 to 10 km/h around the profile's
    standstill limit, every gear, the parking brake applied or released). Expect every request
    outside a stationary, parked, braked state refused with NRC 0x22 conditionsNotCorrect."""
    standstill = policy.profile.rule("ota.diagnostic-session-safety").limit("standstill_kph")
    at_limit = {"vehicle.speed_kph": standstill, "vehicle.gear": "P", "vehicle.parking_brake": "Applied"}
    with uds.over_can() as tester:
        def ask(state):
            change(vehicle, "diagnostic example", state, bus.monitor)
            tester.session(PROGRAMMING)

        ask(at_limit)
        explore.run(session_states(standstill), ask, examples=EXAMPLES)
        tester.session(DEFAULT)
    request_id, response_id = uds.can_ids
    judge(check_programming_session, transports=["isotp"], can_request_id=request_id, can_response_id=response_id,
          situations={"stationary in P at the standstill limit": at_limit})
