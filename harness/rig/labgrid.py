"""A bench held in a labgrid place: acquire it through the labgrid coordinator (gRPC), take the CAN
channel, the mirror NIC and the ECU's power switch from its resources, release it after the run.

labgrid already shares a lab's benches between people and CI; the harness only borrows one, so a lab
with many benches needs no scheduler of the harness's own."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
from typing import Any

from harness.errors import RigError
from harness.rig.bench_config import LabgridConfig
from harness.rig.config import Rig

INSTALL = "labgrid is not installed: pip install 'vehicle-conformance-harness[labgrid]' (labgrid>=24)"
# labgrid's exporter turns a NetworkInterface into this class when it exports it
INTERFACE_CLASSES = ("RemoteNetworkInterface", "NetworkInterface", "USBNetworkInterface")
POWER_CLASSES = ("NetworkPowerPort",)


@dataclasses.dataclass(frozen=True)
class PlaceResource:
    name: str
    cls: str
    params: dict[str, Any]


class LabgridPlace:
    """One acquisition of a labgrid place; `release()` is safe to call more than once."""

    def __init__(self, config: LabgridConfig, timeout: float = 10.0) -> None:
        self.config, self.timeout = config, timeout
        self._session: Any = None
        self._power: Any = None
        self._target: Any = None
        self.acquired = False
        self.resources: dict[str, PlaceResource] = {}

    # -- acquisition -----------------------------------------------------------------------------
    def acquire(self) -> None:
        try:
            from labgrid.remote.client import Error as LabgridError
            from labgrid.remote.client import start_session
        except ImportError:
            raise RigError(INSTALL) from None
        where = f"labgrid place {self.config.place!r} at coordinator {self.config.coordinator}"
        try:
            self._session = start_session(self.config.coordinator)
        except Exception as exc:  # noqa: BLE001 - grpc and labgrid raise many kinds; all mean "no coordinator"
            raise RigError(f"{where}: the coordinator does not answer ({_first_line(exc)}); start "
                           "labgrid-coordinator or fix [labgrid] coordinator in the rig file") from None
        self._session.args = argparse.Namespace(place=self.config.place, allow_unmatched=False)
        try:
            self._run(self._session.acquire())
            self.acquired = True
            place = self._session.get_place(self.config.place)
            entries = self._session.get_target_resources(place)
        except LabgridError as exc:
            self.release()
            raise RigError(f"{where}: {_first_line(exc)}") from None
        except Exception as exc:  # noqa: BLE001 - a coordinator that breaks mid-way leaves no usable place
            self.release()
            raise RigError(f"{where}: acquiring failed: {_first_line(exc)}") from None
        self.resources = {name: PlaceResource(name, entry.cls, dict(entry.args))
                          for (name, _cls), entry in entries.items()}

    def release(self) -> None:
        session, self._session = self._session, None
        if self._target is not None:
            self._target.cleanup()
            self._target = self._power = None
        if session is None:
            return
        try:
            if self.acquired:
                self._run(session.release(), session)
        finally:
            self.acquired = False
            try:
                self._run(session.stop(), session)
                self._run(session.close(), session)
            except Exception:  # noqa: BLE001 - the place is released; a channel that closes badly is no matter
                pass

    def _run(self, coroutine: Any, session: Any = None) -> Any:
        loop = (session or self._session).loop
        return loop.run_until_complete(asyncio.wait_for(coroutine, self.timeout))

    # -- resources -------------------------------------------------------------------------------
    def resource(self, name: str, classes: tuple[str, ...], role: str) -> PlaceResource:
        found = self.resources.get(name)
        if found is None:
            have = ", ".join(f"{r.name} ({r.cls})" for r in self.resources.values()) or "none"
            raise RigError(f"labgrid place {self.config.place!r} has no resource {name!r} for the {role} "
                           f"(it has: {have}); fix [labgrid] in the rig file or the place's matches")
        if found.cls not in classes:
            raise RigError(f"labgrid place {self.config.place!r}: resource {name!r} is a {found.cls}, but the {role} "
                           f"needs one of {', '.join(classes)}")
        return found

    def apply(self, rig: Rig) -> Rig:
        """The rig with the place's CAN channel and mirror NIC in place of the file's."""
        can, capture = rig.can, rig.capture
        if self.config.can:
            can = dataclasses.replace(can, channel=str(self.resource(
                self.config.can, INTERFACE_CLASSES, "CAN interface").params["ifname"]))
        if self.config.network:
            capture = dataclasses.replace(capture, interface=str(self.resource(
                self.config.network, INTERFACE_CLASSES, "capture interface").params["ifname"]))
        return dataclasses.replace(rig, can=can, capture=capture)

    def remote_hosts(self) -> list[str]:
        """Exporter hosts of the interfaces this rig takes that are not this machine: the harness opens
        the CAN channel and the NIC itself, so it has to run where they are."""
        local = {socket.gethostname(), socket.getfqdn(), "localhost", "127.0.0.1", "::1"}
        names = [n for n in (self.config.can, self.config.network) if n and n in self.resources]
        hosts = {str(self.resources[n].params.get("host", "")) for n in names}
        return sorted(h for h in hosts if h and h not in local)

    @property
    def has_power(self) -> bool:
        return self.config.power is not None

    def _power_driver(self) -> Any:
        if self._power is not None:
            return self._power
        assert self.config.power is not None
        port = self.resource(self.config.power, POWER_CLASSES, "power switch")
        from labgrid import Target
        from labgrid.driver.powerdriver import NetworkPowerDriver
        from labgrid.factory import target_factory

        # only the power port becomes a labgrid resource here: the driver talks to the switch itself
        target = Target(f"harness-{self.config.place}")
        params = {k: v for k, v in port.params.items() if k in ("model", "host", "index")}
        target_factory.make_resource(target, "NetworkPowerPort", port.name, params)
        driver = NetworkPowerDriver(target, "power", delay=1.0)  # off long enough to reset the ECU
        target.activate(driver)
        self._target, self._power = target, driver
        return driver

    def power(self, action: str) -> None:
        """`on`, `off` or `cycle` the ECU through the place's power switch."""
        driver = self._power_driver()
        try:
            getattr(driver, action)()
        except Exception as exc:  # noqa: BLE001 - a switch that does not answer is a bench problem
            raise RigError(f"labgrid place {self.config.place!r}: power {action} through {self.config.power!r} "
                           f"failed: {_first_line(exc)}") from None

    def power_state(self) -> bool | None:
        try:
            return bool(self._power_driver().get())
        except Exception:  # noqa: BLE001 - not every switch reports its state
            return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__

