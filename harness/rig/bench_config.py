"""The parts of a rig file that a bench adds: DoIP addresses, timeouts, a labgrid place, and the
checks on a CAN interface and NIC name that catch a typo before anything is opened.

Kept apart from config.py so the virtual rig's loader stays small; every error names the file,
the key and the fix, like the rest of the rig file."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.rig.config import _Reader

# Linux interface names: at most 15 bytes, no slash, no whitespace
_IFNAME = re.compile(r"^[^/\s:]{1,15}$")


@dataclass(frozen=True)
class DoipConfig:
    """Where the ECU's DoIP entity answers, and the logical addresses on both sides (ISO 13400-2)."""

    address: str
    port: int = 13400
    logical_address: int = 0x0E80
    tester_address: int = 0x0E00
    protocol_version: int = 2


@dataclass(frozen=True)
class Timeouts:
    """How long the harness waits on a bench before calling a part of it absent."""

    can_traffic_s: float = 3.0     # expected messages must appear within this
    ecu_alive_s: float = 10.0      # the ECU's status message after power-on or start
    capture_s: float = 3.0         # the mirror port must show a packet within this
    doip_s: float = 2.0            # a DoIP vehicle identification answer


@dataclass(frozen=True)
class LabgridConfig:
    """A labgrid place that holds this bench, and which of its resources play which part."""

    place: str
    coordinator: str = "127.0.0.1:20408"
    can: str | None = None         # resource name of a NetworkInterface: its ifname is the CAN channel
    network: str | None = None     # resource name of a NetworkInterface: its ifname is the mirror NIC
    power: str | None = None       # resource name of a NetworkPowerPort: power-cycles the ECU


def doip(table: _Reader) -> DoipConfig | None:
    if not table.data:
        return None
    address = table.get("address", str)
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise table.fail("address", f"not an IP address: {address!r} (the DoIP entity's address)") from None
    port = table.get("port", int, 13400)
    if not 0 < port < 65536:
        raise table.fail("port", f"must be 1..65535, got {port} (DoIP uses 13400)")
    config = DoipConfig(address, port, _logical(table, "logical_address", 0x0E80),
                        _logical(table, "tester_address", 0x0E00), table.get("protocol_version", int, 2))
    if config.protocol_version not in (1, 2, 3, 4):
        raise table.fail("protocol_version", "must be 1, 2, 3 or 4 (ISO 13400-2:2010 is 2, 2019 is 3)")
    return config


def _logical(table: _Reader, key: str, default: int) -> int:
    value = table.get(key, int, default)
    if not 0 <= value <= 0xFFFF:
        raise table.fail(key, f"a logical address is 16 bits (0x0000..0xFFFF), got {value:#x}")
    return int(value)


def timeouts(table: _Reader) -> Timeouts:
    values = {}
    for key in ("can_traffic_s", "ecu_alive_s", "capture_s", "doip_s"):
        value = table.get(key, float, getattr(Timeouts, key))
        if not 0 < value <= 600:
            raise table.fail(key, f"must be between 0 and 600 seconds, got {value}")
        values[key] = value
    unknown = set(table.data) - set(values)
    if unknown:
        raise table.fail(", ".join(sorted(unknown)), f"unknown timeout (known: {', '.join(values)})")
    return Timeouts(**values)


def labgrid(table: _Reader) -> LabgridConfig | None:
    if not table.data:
        return None
    coordinator = table.get("coordinator", str, "127.0.0.1:20408")
    host, sep, port = coordinator.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise table.fail("coordinator", f"expected HOST:PORT of the labgrid coordinator, got {coordinator!r}")
    return LabgridConfig(table.get("place", str), coordinator, _optional(table, "can"),
                         _optional(table, "network"), _optional(table, "power"))


def _optional(table: _Reader, key: str) -> str | None:
    value = table.get(key, str, "")
    return value or None


def check_can_interface(table: _Reader, interface: str) -> None:
    from can.interfaces import VALID_INTERFACES

    if interface not in VALID_INTERFACES:
        close = sorted(name for name in VALID_INTERFACES if name[:3] == interface[:3]) or sorted(VALID_INTERFACES)
        raise table.fail("interface", f"python-can has no interface {interface!r}; did you mean "
                                      f"{' or '.join(close[:4])}? (python-can's names: socketcan, pcan, vector, "
                                      "kvaser, slcan, ...)")


def check_ifname(table: _Reader, key: str, name: str) -> None:
    if not _IFNAME.match(name):
        raise table.fail(key, f"{name!r} is not a network interface name (at most 15 characters, no '/' or spaces); "
                              "`ip link` lists the machine's interfaces")
