"""The netmap: where each destination is, which exports are approved, what each endpoint is for.

Address mappings win over name mappings because the data goes to the address; a name counts
only when no address mapping matches. Unmapped destinations are region `unknown`."""

from __future__ import annotations

import functools
import ipaddress
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

CATEGORIES = (
    "location", "exterior_imagery", "cabin_imagery", "biometric", "audio", "personal_identity",
    "vin", "vehicle_state", "diagnostics", "charging", "ota",
)
UNKNOWN_REGION = "unknown"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=65536)
def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    # checks ask about the same few addresses once per flow and mapping: parse each once
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@dataclass(frozen=True)
class Destination:
    """An address, a CIDR or a domain (suffix match), as netmap entries name them."""

    network: Network | None = None
    domain: str | None = None

    def matches_address(self, address: str) -> bool:
        if self.network is None:
            return False
        parsed = _address(address)
        return parsed is not None and parsed in self.network

    def matches_name(self, name: str) -> bool:
        if self.domain is None:
            return False
        name = name.rstrip(".").lower()
        return name == self.domain or name.endswith("." + self.domain)

    def matches(self, address: str, names: tuple[str, ...] = ()) -> bool:
        return self.matches_address(address) or any(self.matches_name(n) for n in names)

    def __str__(self) -> str:
        return str(self.network) if self.network is not None else str(self.domain)


@dataclass(frozen=True)
class RegionMapping:
    destination: Destination
    region: str


@dataclass(frozen=True)
class ApprovedExport:
    destination: Destination
    categories: frozenset[str]
    appraisal: str


@dataclass(frozen=True)
class Purpose:
    destination: Destination
    name: str
    categories: frozenset[str]
    location_precision_m: float | None = None
    protocol: str | None = None        # the one protocol this purpose is served by (e.g. "gbt32960")
    legal_obligation: bool = False     # mandated reporting: the owner's consent switches do not stop it


@dataclass(frozen=True)
class ConsentSwitch:
    """An owner's privacy switch (an abstract CAN signal) and the categories it governs."""

    signal: str
    categories: frozenset[str]


@dataclass(frozen=True)
class Netmap:
    vehicle_addresses: tuple[str, ...]
    regions: tuple[RegionMapping, ...]
    approved_exports: tuple[ApprovedExport, ...]
    purposes: tuple[Purpose, ...]
    consents: tuple[ConsentSwitch, ...] = ()

    def is_vehicle(self, address: str) -> bool:
        return address in self.vehicle_addresses

    def region_of(self, address: str, names: tuple[str, ...] = ()) -> str:
        return self.address_region(address) or self.name_region(names) or UNKNOWN_REGION

    def address_region(self, address: str) -> str | None:
        """The region an address mapping gives, or None: then names decide (see name_region)."""
        for mapping in self.regions:
            if mapping.destination.matches_address(address):
                return mapping.region
        return None

    def name_region(self, names: tuple[str, ...] | list[str]) -> str | None:
        """The region of the first domain mapping that one of the names falls under, or None."""
        for mapping in self.regions:
            if any(mapping.destination.matches_name(n) for n in names):
                return mapping.region
        return None

    def exports_to(self, address: str, names: tuple[str, ...] = ()) -> list[ApprovedExport]:
        return [e for e in self.approved_exports if e.destination.matches(address, names)]

    def purposes_of(self, address: str, names: tuple[str, ...] = ()) -> list[Purpose]:
        return [p for p in self.purposes if p.destination.matches(address, names)]


def load_netmap(path: Path | str) -> Netmap:
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"netmap {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    # A rig file may carry its netmap under [netmap]; a netmap file has it at the top.
    return parse_netmap(data.get("netmap", data), str(path))


def parse_netmap(data: dict[str, Any], where: str) -> Netmap:
    vehicle = data.get("vehicle")
    if not isinstance(vehicle, dict) or not isinstance(vehicle.get("addresses"), list):
        raise ConfigError(f"{where}: [vehicle] addresses: missing list of the ECU's egress addresses")
    addresses = []
    for value in vehicle["addresses"]:
        try:
            addresses.append(str(ipaddress.ip_address(value)))
        except ValueError:
            raise ConfigError(f"{where}: [vehicle] addresses: not an IP address: {value!r}") from None
    regions = tuple(
        RegionMapping(_destination(entry, where, "endpoint", ("cidr", "domain")),
                      _text(entry, "region", where, "endpoint"))
        for entry in _entries(data, "endpoint", where)
    )
    exports = tuple(
        ApprovedExport(
            _destination(entry, where, "approved_export", ("destination",)),
            _categories(entry, where, "approved_export"),
            _text(entry, "appraisal", where, "approved_export"),
        )
        for entry in _entries(data, "approved_export", where)
    )
    purposes = tuple(
        Purpose(
            _destination(entry, where, "purpose", ("destination",)),
            _text(entry, "name", where, "purpose"),
            _categories(entry, where, "purpose"),
            _precision(entry, where),
            _optional_text(entry, "protocol", where),
            _flag(entry, "legal_obligation", where),
        )
        for entry in _entries(data, "purpose", where)
    )
    consents = tuple(
        ConsentSwitch(_text(entry, "signal", where, "consent"), _categories(entry, where, "consent"))
        for entry in _entries(data, "consent", where)
    )
    return Netmap(tuple(addresses), regions, exports, purposes, consents)


def _entries(data: dict[str, Any], key: str, where: str) -> list[dict[str, Any]]:
    entries = data.get(key, [])
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigError(f"{where}: [[{key}]]: must be an array of tables")
    return entries


def _text(entry: dict[str, Any], key: str, where: str, table: str) -> str:
    value = entry.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: [[{table}]] {key}: missing text in entry {entry!r}")
    return value


def _destination(entry: dict[str, Any], where: str, table: str, keys: tuple[str, ...]) -> Destination:
    for key in keys:
        value = entry.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigError(f"{where}: [[{table}]] {key}: must be text, got {value!r}")
        if key == "domain":
            return Destination(domain=value.rstrip(".").lower())
        try:
            return Destination(network=ipaddress.ip_network(value, strict=False))
        except ValueError:
            if key == "cidr":
                raise ConfigError(f"{where}: [[{table}]] cidr: not an address or CIDR: {value!r}") from None
            return Destination(domain=value.rstrip(".").lower())
    raise ConfigError(f"{where}: [[{table}]]: needs one of {', '.join(keys)} in entry {entry!r}")


def _categories(entry: dict[str, Any], where: str, table: str) -> frozenset[str]:
    values = entry.get("categories")
    if not isinstance(values, list) or not values:
        raise ConfigError(f"{where}: [[{table}]] categories: missing list in entry {entry!r}")
    unknown = [v for v in values if v not in CATEGORIES]
    if unknown:
        raise ConfigError(
            f"{where}: [[{table}]] categories: unknown {unknown}; the vocabulary is {', '.join(CATEGORIES)}"
        )
    return frozenset(values)


def _optional_text(entry: dict[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is not None and (not isinstance(value, str) or not value):
        raise ConfigError(f"{where}: [[purpose]] {key}: must be text, got {value!r}")
    return value


def _flag(entry: dict[str, Any], key: str, where: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: [[purpose]] {key}: must be true or false, got {value!r}")
    return value


def _precision(entry: dict[str, Any], where: str) -> float | None:
    value = entry.get("location_precision_m")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{where}: [[purpose]] location_precision_m: must be a positive number")
    return float(value)
