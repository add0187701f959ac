"""The diagnostic tester bound to a rig: UDS over ISO-TP on the rig's CAN bus (ids from the signal
mapping's `diag.request` and `diag.response`) and over DoIP to the rig's `[doip]` entity.

On the virtual rig the DoIP tester sits in the cloud namespace, so its traffic crosses the uplink
where the capture sees it; on a bench it uses the host's network towards the ECU."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from harness.diag.tester import UdsTester, doip_tester, isotp_tester
from harness.errors import RigError

if TYPE_CHECKING:
    from harness.rig.session import RigSession


class RigDiagnostics:
    def __init__(self, rig: RigSession) -> None:
        self.rig = rig

    @property
    def can_ids(self) -> tuple[int, int]:
        """(request id, response id) of UDS on CAN, as the check needs them."""
        codec = self.rig.codec
        if "diag.request" not in codec.signals or "diag.response" not in codec.signals:
            raise RigError("the signal mapping names no diag.request / diag.response messages for UDS on CAN")
        return (codec.message(codec.ref("diag.request").message).frame_id,
                codec.message(codec.ref("diag.response").message).frame_id)

    @contextmanager
    def over_can(self) -> Iterator[UdsTester]:
        if self.rig.can_sender is None or self.rig.can_notifier is None:
            raise RigError("the rig's CAN bus is not up")
        request, response = self.can_ids
        with isotp_tester(self.rig.can_sender, self.rig.can_notifier, request, response, self.rig.scenario) as tester:
            yield tester

    @contextmanager
    def over_doip(self) -> Iterator[UdsTester]:
        config = self.rig.rig.doip
        if config is None:
            raise RigError(f"{self.rig.rig.path}: no [doip] table, so there is no DoIP entity to test")
        namespace = self.rig.virtual.namespaces.cloud if self.rig.virtual is not None else None
        with doip_tester(config, namespace, self.rig.scenario) as tester:
            yield tester
