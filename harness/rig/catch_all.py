"""Every destination answers: the cloud namespace takes every IPv4/IPv6 address as its own and
redirects every TCP/UDP connection no simulated endpoint serves to the catch-all sink.

The local routes sit in the namespace's `local` table (there the kernel also answers ICMP echo
from any address), with the vehicle's subnet routed back over the uplink; the nftables rules live
in the cloud namespace's own ruleset and see only what arrives on the uplink, so nothing here can
touch the host's addresses or rules."""

from __future__ import annotations

import ipaddress
import shutil
import subprocess
from collections.abc import Iterable

from harness.errors import RigError
from harness.rig import netns

Destination = tuple[str, str, int]  # address, "tcp"/"udp", port


def require_nft() -> None:
    if shutil.which("nft") is None:
        raise RigError("the virtual rig's catch-all needs nftables' `nft` command: apt-get install nftables "
                       "(scripts/bootstrap installs it)")


def install(namespace: str, uplink: str, vehicle_subnets: Iterable[str], served: Iterable[Destination],
            unanswered: Iterable[Destination], sink_port: int) -> None:
    """Local routes for all addresses and the redirect; `served` keep their own servers,
    `unanswered` are dropped (a destination a seeded defect needs silent)."""
    require_nft()
    for family, everything in (("-4", "0.0.0.0/0"), ("-6", "::/0")):
        netns.ip(family, "route", "add", "local", everything, "dev", "lo", "table", "local", namespace=namespace)
    # the most specific route wins inside the table: the vehicle stays on the far side of the uplink
    subnets = list(vehicle_subnets)
    if any(ipaddress.ip_network(subnet).version == 6 for subnet in subnets):
        subnets.append("fe80::/64")  # the vehicle's link-local address, too, is across the uplink
    for subnet in subnets:
        family = "-4" if ipaddress.ip_network(subnet).version == 4 else "-6"
        netns.ip(family, "route", "add", subnet, "dev", uplink, "table", "local", namespace=namespace)
    done = subprocess.run(netns.exec_argv(namespace, ["nft", "-f", "-"]), input=ruleset(uplink, served, unanswered,
                          sink_port), capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RigError(f"nftables refused the catch-all rules in {namespace}: {done.stderr.strip()}")


def ruleset(uplink: str, served: Iterable[Destination], unanswered: Iterable[Destination], sink_port: int) -> str:
    served4, served6 = _split(served)
    silent4, silent6 = _split(unanswered)
    return "\n".join([
        "table inet harness_catch_all {",
        _set("served4", "ipv4_addr", served4), _set("served6", "ipv6_addr", served6),
        _set("silent4", "ipv4_addr", silent4), _set("silent6", "ipv6_addr", silent6),
        "  chain silence {",
        "    type filter hook prerouting priority raw; policy accept;",
        f'    iifname != "{uplink}" return',
        "    ip daddr . meta l4proto . th dport @silent4 drop",
        "    ip6 daddr . meta l4proto . th dport @silent6 drop",
        "  }",
        "  chain to_sink {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        f'    iifname != "{uplink}" return',
        "    meta pkttype != host return",  # broadcasts and multicast (DoIP announcements) stay as they are
        "    ip daddr . meta l4proto . th dport @served4 return",
        "    ip6 daddr . meta l4proto . th dport @served6 return",
        f"    meta l4proto {{ tcp, udp }} redirect to :{sink_port}",
        "  }",
        "}",
        "",
    ])


def _split(destinations: Iterable[Destination]) -> tuple[list[str], list[str]]:
    v4: list[str] = []
    v6: list[str] = []
    for address, protocol, port in sorted(set(destinations)):
        if protocol not in ("tcp", "udp"):
            raise RigError(f"a destination's protocol is tcp or udp, got {protocol!r}")
        (v4 if ipaddress.ip_address(address).version == 4 else v6).append(f"{address} . {protocol} . {port}")
    return v4, v6


def _set(name: str, kind: str, elements: list[str]) -> str:
    body = f"    elements = {{ {', '.join(elements)} }}\n" if elements else ""
    return f"  set {name} {{\n    type {kind} . inet_proto . inet_service\n{body}  }}"
