"""The vECU's diagnostic side brought up from the rig file: UDS over ISO-TP on the CAN ids the
signal mapping names (`diag.request`, `diag.response`) and a DoIP entity where `[doip]` says.

What the server reports (software version, VIN) and checks (vehicle state) comes from the
running ECU, so diagnostics and the owner's screen tell the same story."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import can

from harness.can.codec import VehicleCodec
from harness.errors import ConfigError
from harness.rig.config import Rig
from harness.vecu.diag_transport import DoipEntity, IsoTpServer
from harness.vecu.uds_server import UdsServer

SOFTWARE_VERSION_DID, VIN_DID, SYSTEM_NAME_DID = 0xF195, 0xF190, 0xF197


class Diagnostics:
    def __init__(self, rig: Rig, codec: VehicleCodec, bus: can.BusABC, notifier: can.Notifier,
                 software_id: Callable[[], str], vehicle: Callable[[], Mapping[str, Any]],
                 defects: frozenset[str]) -> None:
        assert rig.vecu is not None
        vin = rig.vecu.vin
        self.uds = UdsServer({SOFTWARE_VERSION_DID: lambda: software_id().encode("ascii"),
                              VIN_DID: lambda: vin.encode("ascii"),
                              SYSTEM_NAME_DID: lambda: b"TBOX"}, vehicle, defects)
        self.isotp: IsoTpServer | None = None
        self.doip: DoipEntity | None = None
        if "diag.request" in codec.signals and "diag.response" in codec.signals:
            request = codec.message(codec.ref("diag.request").message).frame_id
            response = codec.message(codec.ref("diag.response").message).frame_id
            self.isotp = IsoTpServer(bus, notifier, request, response, self.uds)
        if rig.doip is not None:
            try:
                self.doip = DoipEntity(("0.0.0.0" if ":" not in rig.doip.address else "::", rig.doip.port),
                                       rig.doip.logical_address, vin, self.uds, rig.doip.protocol_version)
            except OSError as exc:
                raise ConfigError(f"the DoIP entity cannot listen on port {rig.doip.port}: {exc}") from None

    def start(self) -> None:
        if self.isotp is not None:
            self.isotp.start()
        if self.doip is not None:
            self.doip.start()

    def close(self) -> None:
        if self.isotp is not None:
            self.isotp.close()
        if self.doip is not None:
            self.doip.close()
