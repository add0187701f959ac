"""Rig files: load a rig TOML into a typed `Rig`, validating every key on the way in.

A rig is data (what exists: CAN interface, DBC, capture point, netmap, the virtual ECU's
configuration); errors name the file, the key and the fix."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.policy.netmap import Netmap, parse_netmap


@dataclass(frozen=True)
class CanConfig:
    interface: str
    channel: str
    dbc: Path
    bitrate: int = 500_000
    mapping: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CaptureConfig:
    interface: str
    backend: str = "dumpcap"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class VecuConfig:
    """How the virtual vehicle is configured: who it is and where it sends data."""

    vin: str
    iccid: str
    address: str
    gateway: str
    prefix: int
    software_version: tuple[int, int, int]
    endpoints: dict[str, Endpoint]
    report_period_s: float = 10.0


@dataclass(frozen=True)
class Rig:
    path: Path
    name: str
    kind: str
    time_scale: float
    can: CanConfig
    capture: CaptureConfig
    netmap: Netmap
    vecu: VecuConfig | None

    @property
    def is_virtual(self) -> bool:
        return self.kind == "virtual"


class _Reader:
    """Typed access to a TOML table that reports the exact key on error."""

    def __init__(self, path: Path, data: dict[str, Any], prefix: str = "") -> None:
        self.path, self.data, self.prefix = path, data, prefix

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(f"{self.path}: [{self.prefix}] {key}: {problem}" if self.prefix
                           else f"{self.path}: {key}: {problem}")

    def table(self, key: str, required: bool = True) -> _Reader:
        value = self.data.get(key)
        if value is None and not required:
            return _Reader(self.path, {}, self._join(key))
        if not isinstance(value, dict):
            raise self.fail(key, "missing table" if value is None else "must be a table")
        return _Reader(self.path, value, self._join(key))

    def get(self, key: str, kind: type, default: Any = ...) -> Any:
        value = self.data.get(key, default)
        if value is ...:
            raise self.fail(key, f"missing (expected a {kind.__name__})")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise self.fail(key, f"must be a {kind.__name__}, got {value!r}")
        return value

    def _join(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key


def load_rig(path: Path | str) -> Rig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"rig file {path} not found (the default is rigs/virtual.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    root = _Reader(path, data)
    rig = root.table("rig")
    kind = rig.get("kind", str)
    if kind not in ("virtual", "bench"):
        raise rig.fail("kind", f"must be 'virtual' or 'bench', got {kind!r}")
    time_scale = rig.get("time_scale", float, 1.0)
    if time_scale <= 0 or (kind == "bench" and time_scale != 1.0):
        raise rig.fail("time_scale", "must be > 0, and 1 on a bench (a real ECU runs in real time)")
    netmap_data = data.get("netmap")
    if not isinstance(netmap_data, dict):
        raise root.fail("netmap", "missing table (where each endpoint is and which exports are approved)")
    return Rig(
        path=path.resolve(),
        name=rig.get("name", str, path.stem),
        kind=kind,
        time_scale=time_scale,
        can=_can(root.table("can"), path),
        capture=_capture(root.table("capture")),
        netmap=parse_netmap(netmap_data, f"{path} [netmap]"),
        vecu=_vecu(root.table("vecu")) if kind == "virtual" else None,
    )


def _can(can: _Reader, path: Path) -> CanConfig:
    dbc = path.parent / can.get("dbc", str)
    if not dbc.is_file():
        raise can.fail("dbc", f"file {dbc} not found")
    options = can.get("options", dict, {})
    mapping = path.parent / can.get("mapping", str)
    if not mapping.is_file():
        raise can.fail("mapping", f"file {mapping} not found (it maps the harness's signals to the DBC)")
    return CanConfig(
        interface=can.get("interface", str),
        channel=can.get("channel", str),
        dbc=dbc.resolve(),
        bitrate=can.get("bitrate", int, 500_000),
        mapping=mapping.resolve(),
        options=dict(options),
    )


def _capture(capture: _Reader) -> CaptureConfig:
    backend = capture.get("backend", str, "dumpcap")
    if backend != "dumpcap":
        raise capture.fail("backend", f"unknown capture backend {backend!r} (supported: dumpcap)")
    return CaptureConfig(interface=capture.get("interface", str), backend=backend)


def _vecu(vecu: _Reader) -> VecuConfig:
    vin = vecu.get("vin", str)
    if len(vin) != 17 or not vin.isascii() or not vin.isalnum():
        raise vecu.fail("vin", f"a VIN has 17 letters and digits, got {vin!r}")
    address = _address(vecu, "address")
    gateway = _address(vecu, "gateway")
    version = vecu.get("software_version", str)
    try:
        major, minor, patch = (int(part) for part in version.split("."))
    except ValueError:
        raise vecu.fail("software_version", f"expected MAJOR.MINOR.PATCH, got {version!r}") from None
    endpoints_table = vecu.table("endpoints")
    endpoints = {name: _endpoint(endpoints_table, name) for name in endpoints_table.data}
    for needed in ("gbt32960", "mqtt", "ota"):
        if needed not in endpoints:
            raise endpoints_table.fail(needed, "missing endpoint (host:port)")
    return VecuConfig(
        vin=vin,
        iccid=vecu.get("iccid", str, "89860000000000000000"),
        address=address,
        gateway=gateway,
        prefix=vecu.get("prefix", int, 24),
        software_version=(major, minor, patch),
        endpoints=endpoints,
        report_period_s=vecu.get("report_period_s", float, 10.0),
    )


def _address(table: _Reader, key: str) -> str:
    value = table.get(key, str)
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise table.fail(key, f"not an IP address: {value!r}") from None


def _endpoint(table: _Reader, key: str) -> Endpoint:
    value = table.get(key, str)
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise table.fail(key, f"expected ADDRESS:PORT, got {value!r}") from None
    if not sep or not 0 < number < 65536:
        raise table.fail(key, f"expected ADDRESS:PORT, got {value!r}")
    return Endpoint(host, number)
