"""Is the ECU's DoIP entity there: a vehicle identification request (ISO 13400-2) to the address the
rig names, and the VIN and logical address it answers with.

Uses scapy's DoIP layer; the request is a single UDP datagram to the bench's own ECU on a directly
attached link (never through a gateway), nothing on CAN."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass

from harness.rig.bench_config import DoipConfig

IDENTIFICATION_REQUEST, IDENTIFICATION_RESPONSE = 0x0001, 0x0004


@dataclass(frozen=True)
class DoipAnswer:
    vin: str
    logical_address: int
    source: str


def not_on_link(address: str, namespace: str | None = None) -> str | None:
    """Why a probe to `address` would leave the bench's own link (or None when it would not): a DoIP
    entity shares a link with its tester, so an address reached through a gateway is a wrong address,
    and nothing is sent there."""
    command = ["ip"] + (["-n", namespace] if namespace else []) + ["route", "get", address]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return f"no route to {address} ({done.stderr.strip() or done.returncode})"
    route = done.stdout.split()
    if "via" in route:
        return f"{address} is reached through gateway {route[route.index('via') + 1]}, not on a link of this machine"
    return None


def identify(config: DoipConfig, timeout: float) -> DoipAnswer | None:
    """The entity's answer, or None when nothing answered within `timeout` seconds."""
    from scapy.contrib.automotive.doip import DoIP

    request = bytes(DoIP(protocol_version=config.protocol_version, inverse_version=0xFF ^ config.protocol_version,
                         payload_type=IDENTIFICATION_REQUEST))
    family = socket.AF_INET6 if ":" in config.address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(request, (config.address, config.port))
        try:
            while True:
                data, peer = sock.recvfrom(4096)
                answer = DoIP(data)
                if answer.payload_type == IDENTIFICATION_RESPONSE:
                    vin = bytes(answer.vin).decode("ascii", "replace")
                    return DoipAnswer(vin, int(answer.logical_address), peer[0])
        except (TimeoutError, OSError):
            return None
