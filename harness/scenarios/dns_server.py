"""The virtual cloud's DNS resolver: the rig's endpoint names resolve to their addresses, and any
other name the netmap places in a region by its domain gets an address from that region's range.

So a vehicle that reaches a host nobody listed, by a name only DNS maps to a region, lands where the
netmap says (and the catch-all answers it); the capture's DNS answers attribute the flow by name."""

from __future__ import annotations

import hashlib
import ipaddress
import socketserver
from collections.abc import Iterable, Mapping

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from harness.policy.netmap import Netmap

TTL_S = 60
POOL_TRIES = 64  # addresses tried per name before giving up on a region's range (all taken)


class RigResolver(BaseResolver):  # type: ignore[misc]  # dnslib has no type hints
    """Answers from the rig's names first, then from the netmap's ranges by the name's region."""

    def __init__(self, names: Mapping[str, str], netmap: Netmap, taken: Iterable[str]) -> None:
        self.names = {name.rstrip(".").lower(): address for name, address in names.items()}
        self.netmap = netmap
        self.taken = {str(ipaddress.ip_address(a)) for a in taken}

    def address_for(self, name: str, version: int) -> str | None:
        name = name.rstrip(".").lower()
        if name in self.names:
            known = self.names[name]
            return known if ipaddress.ip_address(known).version == version else None
        region = self.netmap.name_region([name])
        if region is None:
            return None
        for mapping in self.netmap.regions:
            network = mapping.destination.network
            if mapping.region == region and network is not None and network.version == version:
                address = self._pick(name, network)
                if address is not None:
                    return address
        return None

    def known(self, name: str) -> bool:
        name = name.rstrip(".").lower()
        return name in self.names or self.netmap.name_region([name]) is not None

    def _pick(self, name: str, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str | None:
        """The same name always gets the same address, never one a listed endpoint holds."""
        size = network.num_addresses - 2 if network.version == 4 else network.num_addresses
        if size < 1:
            return None
        seed = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
        for attempt in range(POOL_TRIES):
            address = str(network.network_address + 1 + (seed + attempt) % size)
            if address not in self.taken:
                return address
        return None

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        reply = request.reply()
        qname, qtype = request.q.qname, request.q.qtype
        if not self.known(str(qname)):
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for kind, version, rdata in ((QTYPE.A, 4, A), (QTYPE.AAAA, 6, AAAA)):
            if qtype in (kind, QTYPE.ANY):
                address = self.address_for(str(qname), version)
                if address is not None:
                    reply.add_answer(RR(qname, kind, rdata=rdata(address), ttl=TTL_S))
        return reply


def dns_server(resolver: RigResolver, address: str, port: int = 53, tcp: bool = False) -> socketserver.BaseServer:
    """A dnslib server on `address`, quiet on stdout; the caller's thread serves it."""
    server: socketserver.BaseServer = DNSServer(resolver, address=address, port=port, tcp=tcp,
                                                logger=DNSLogger("-request,-reply,-truncated,-error")).server
    return server
