"""The harness's diagnostic tester: UDS (udsoncan) over ISO-TP on the rig's CAN bus (can-isotp's
notifier-based stack joins the rig's python-can bus, any interface) and over DoIP (doipclient).

A request that gets no answer returns None instead of raising: the check judges the recorded
exchange, and a missing answer is an inconclusive verdict, not a crash of the test."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import can
import isotp
from udsoncan import Request, Response
from udsoncan.client import Client
from udsoncan.connections import BaseConnection, PythonIsoTpConnection
from udsoncan.exceptions import NegativeResponseException, TimeoutException
from udsoncan.services import DiagnosticSessionControl, ReadDataByIdentifier

from harness.errors import RigError
from harness.rig.bench_config import DoipConfig
from harness.rig.netns import entered
from harness.scenarios.log import ScenarioLog

ISOTP_PARAMS: dict[str, Any] = {"tx_padding": 0xCC, "tx_data_min_length": 8, "blocking_send": False}
CLIENT_CONFIG: dict[str, Any] = {"exception_on_negative_response": False, "exception_on_invalid_response": False,
                                 "exception_on_unexpected_response": False, "request_timeout": 2.0,
                                 "p2_timeout": 1.0, "p2_star_timeout": 5.0}


class UdsTester:
    """Requests over one transport; every request and its outcome also go to the scenario log."""

    def __init__(self, connection: BaseConnection, transport: str, log: ScenarioLog) -> None:
        self.transport, self.log = transport, log
        self.client = Client(connection, config=dict(CLIENT_CONFIG))  # type: ignore[arg-type]

    def __enter__(self) -> UdsTester:
        self.client.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.close()

    def request(self, request: Request) -> Response | None:
        payload = bytes(request.get_payload())
        try:
            response = self.client.send_request(request)
        except NegativeResponseException as refused:
            response = refused.response
        except TimeoutException:
            response = None
        self.log.record("uds", transport=self.transport, request=payload.hex(),
                        response=bytes(response.get_payload()).hex() if response is not None else None)
        return response

    def session(self, session: int) -> Response | None:
        """DiagnosticSessionControl (0x10): 1 default, 2 programming, 3 extended."""
        return self.request(Request(DiagnosticSessionControl, subfunction=session))

    def read(self, did: int) -> bytes | None:
        """ReadDataByIdentifier (0x22): the data record, or None when refused or unanswered."""
        response = self.request(Request(ReadDataByIdentifier, data=did.to_bytes(2, "big")))
        data = response.data if response is not None and response.positive else None
        if data is None or data[:2] != did.to_bytes(2, "big"):
            return None
        return bytes(data[2:])


@contextmanager
def isotp_tester(bus: can.BusABC, notifier: can.Notifier, request_id: int, response_id: int,
                 log: ScenarioLog) -> Iterator[UdsTester]:
    address = isotp.Address(isotp.AddressingMode.Normal_11bits, txid=request_id, rxid=response_id)
    stack = isotp.NotifierBasedCanStack(bus, notifier, address=address, params=ISOTP_PARAMS)
    with UdsTester(PythonIsoTpConnection(stack), "isotp", log) as tester:
        yield tester


@contextmanager
def doip_tester(config: DoipConfig, namespace: str | None, log: ScenarioLog) -> Iterator[UdsTester]:
    """A DoIP tester connected (and routing-activated) from `namespace`, where its socket stays."""
    from doipclient import DoIPClient
    from doipclient.connectors import DoIPClientUDSConnector

    try:
        with entered(namespace) if namespace else nullcontext():
            client = DoIPClient(config.address, config.logical_address, tcp_port=config.port,
                                protocol_version=config.protocol_version,
                                client_logical_address=config.tester_address)
    except (OSError, TimeoutError, ConnectionError) as exc:
        raise RigError(f"the DoIP entity at {config.address}:{config.port} does not answer: {exc}") from None
    try:
        with UdsTester(DoIPClientUDSConnector(client), "doip", log) as tester:
            yield tester
    finally:
        client.close()
