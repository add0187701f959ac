"""The embedded virtual rig: namespaces for the CAN bus, the vehicle and the cloud, and a veth uplink.

Nothing here can reach the host's network: the vehicle's only link is the veth into the cloud
namespace, which owns every simulated endpoint address and has no other interface."""

from __future__ import annotations

import ipaddress
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from harness.errors import RigError
from harness.rig import catch_all, netns
from harness.rig.config import Rig

VEHICLE_IF = "veh0"
SINK_PORT = 9  # where the catch-all redirects; the sink listens on it on every address
DNS_PORT = 53
NETNS_ETC = Path("/etc/netns")  # `ip netns exec` bind-mounts files from here over /etc


@dataclass(frozen=True)
class Namespaces:
    can: str
    vehicle: str
    cloud: str

    def all(self) -> tuple[str, str, str]:
        return (self.can, self.vehicle, self.cloud)


class VirtualRig:
    """Brings the namespaces up and down; owns nothing that outlives `down()`."""

    def __init__(self, rig: Rig, tag: str = "") -> None:
        if rig.vecu is None:
            raise RigError(f"{rig.path}: a virtual rig needs a [vecu] table")
        self.rig = rig
        # HARNESS_RIG_TAG (letters) tells concurrent runs' namespaces apart, e.g. in the harness's own tests
        tag = tag or "".join(c for c in os.environ.get("HARNESS_RIG_TAG", "") if c.isalpha() and c.islower())
        prefix = f"{netns.owned_prefix()}{tag}"
        self.namespaces = Namespaces(f"{prefix}can", f"{prefix}veh", f"{prefix}cloud")
        self.uplink = rig.capture.interface

    def up(self) -> None:
        netns.require_namespaces()
        netns.sweep_stale()
        _sweep_resolv_confs()
        try:
            self._build()
        except RigError:
            self.down()
            raise

    def _build(self) -> None:
        vecu = self.rig.vecu
        assert vecu is not None
        ns = self.namespaces
        for name in ns.all():
            if netns.exists(name):
                netns.delete(name)
            netns.create(name)
        # the CAN namespace has only `lo`; multicast is routed onto it and nowhere else
        netns.ip("route", "add", "224.0.0.0/4", "dev", "lo", namespace=ns.can)
        for name in (ns.vehicle, ns.cloud):
            _quiet_ipv6(name)
        netns.ip("link", "add", VEHICLE_IF, "netns", ns.vehicle, "type", "veth",
                 "peer", "name", self.uplink, "netns", ns.cloud)
        netns.ip("addr", "add", f"{vecu.address}/{vecu.prefix}", "dev", VEHICLE_IF, namespace=ns.vehicle)
        netns.ip("addr", "add", f"{vecu.gateway}/{vecu.prefix}", "dev", self.uplink, namespace=ns.cloud)
        subnets = [str(ipaddress.ip_interface(f"{vecu.address}/{vecu.prefix}").network)]
        if vecu.address6 is not None and vecu.gateway6 is not None:
            # nodad: the addresses are usable at once, no test waits out duplicate address detection
            netns.ip("addr", "add", f"{vecu.address6}/{vecu.prefix6}", "dev", VEHICLE_IF, "nodad", namespace=ns.vehicle)
            netns.ip("addr", "add", f"{vecu.gateway6}/{vecu.prefix6}", "dev", self.uplink, "nodad", namespace=ns.cloud)
            subnets.append(str(ipaddress.ip_interface(f"{vecu.address6}/{vecu.prefix6}").network))
        for name, interface in ((ns.vehicle, VEHICLE_IF), (ns.cloud, self.uplink)):
            netns.ip("link", "set", interface, "up", namespace=name)
        netns.ip("route", "add", "default", "via", vecu.gateway, namespace=ns.vehicle)
        if vecu.gateway6 is not None:
            netns.ip("-6", "route", "add", "default", "via", vecu.gateway6, "dev", VEHICLE_IF, namespace=ns.vehicle)
        resolver = [vecu.resolver] if vecu.resolver else []
        for address in sorted({e.host for e in vecu.endpoints.values()} | set(resolver)):
            v4 = ipaddress.ip_address(address).version == 4
            netns.ip("addr", "add", f"{address}/{32 if v4 else 128}", "dev", "lo", *(() if v4 else ("nodad",)),
                     namespace=ns.cloud)
        served = [(e.host, "tcp", e.port) for e in vecu.endpoints.values()]
        served += [(address, protocol, DNS_PORT) for address in resolver for protocol in ("udp", "tcp")]
        silent = [(e.host, "tcp", e.port) for e in vecu.unserved.values()]
        catch_all.install(ns.cloud, self.uplink, subnets, served, silent, SINK_PORT)
        if vecu.resolver:
            self._resolv_conf(vecu.resolver)

    def _resolv_conf(self, resolver: str) -> None:
        """The vehicle's processes (started with `ip netns exec`) resolve through the rig's resolver."""
        directory = NETNS_ETC / self.namespaces.vehicle
        try:
            directory.mkdir(parents=True, exist_ok=True)
            (directory / "resolv.conf").write_text(f"nameserver {resolver}\noptions timeout:1 attempts:2\n")
        except OSError as exc:
            raise RigError(f"could not give the vehicle namespace its resolver in {directory}: {exc}") from None

    def down(self) -> None:
        for name in self.namespaces.all():
            netns.delete(name)
        shutil.rmtree(NETNS_ETC / self.namespaces.vehicle, ignore_errors=True)

    def leftover(self) -> list[str]:
        return [name for name in self.namespaces.all() if netns.exists(name)]


def _quiet_ipv6(namespace: str) -> None:
    """Interfaces made in `namespace` from now on skip duplicate address detection and router
    solicitation: addresses work at once, and the capture holds the vehicle's traffic, not link chatter."""
    with netns.entered(namespace):  # /proc/sys/net shows the namespace of the thread that opens it
        for key, value in (("accept_dad", "0"), ("dad_transmits", "0"), ("router_solicitations", "0")):
            try:
                Path(f"/proc/sys/net/ipv6/conf/default/{key}").write_text(value)
            except OSError as exc:
                raise RigError(f"could not set IPv6 {key} in namespace {namespace}: {exc}") from None


def _sweep_resolv_confs() -> None:
    """Resolver files left by runs killed before `down()`: their namespaces are gone, so are they."""
    if not NETNS_ETC.is_dir():
        return
    for directory in NETNS_ETC.iterdir():
        if netns.owned_name(directory.name) and not netns.exists(directory.name):
            shutil.rmtree(directory, ignore_errors=True)
