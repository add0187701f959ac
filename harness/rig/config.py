"""Rig files: load a rig TOML into a typed `Rig`, validating every key on the way in.

A rig is data (what exists: CAN interface, DBC, capture point, netmap, the virtual ECU's
configuration); errors name the file, the key and the fix."""

from __future__ import annotations

import ipaddress
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import ConfigError
from harness.policy.netmap import Netmap, load_netmap, parse_netmap
from harness.rig import bench_config, keylog_source
from harness.rig.bench_config import DoipConfig, LabgridConfig, Timeouts
from harness.rig.keylog_source import KeylogSource
from harness.rig.platform_encryption import PlatformEncryption, platform_encryption

# keys holding file names: relative to the file that says them, also when a rig extends another
_PATH_KEYS: tuple[tuple[str | None, str], ...] = (("can", "dbc"), ("can", "mapping"), (None, "netmap"),
                                                  ("tls", "keylog"), ("gbt32960", "key"))


@dataclass(frozen=True)
class CanConfig:
    interface: str
    channel: str
    dbc: Path
    bitrate: int = 500_000
    mapping: Path | None = None
    options: dict[str, Any] = field(default_factory=dict)
    fd: bool = False                    # CAN FD (with data_bitrate where the interface sets it)
    data_bitrate: int | None = None
    expect: tuple[str, ...] = ()        # messages `rig check` waits for (default: the ECU's cyclic ones)


@dataclass(frozen=True)
class CaptureConfig:
    interface: str
    backend: str = "dumpcap"


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    # the DNS name the vehicle is configured with ([vecu.names]); None: it dials the address
    name: str | None = field(default=None, compare=False)
    tls: bool = field(default=False, compare=False)      # [vecu.tls] endpoints: the vehicle speaks TLS to it
    mutual: bool = field(default=False, compare=False)   # [vecu.tls] mutual: it asks for the vehicle's certificate

    @property
    def dial(self) -> str:
        """What the vehicle connects to: its name where it has one, so the vehicle resolves it."""
        return self.name or self.host

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
    # destinations the virtual cloud does not serve (no address, no server): a seeded defect's target
    unserved: dict[str, Endpoint] = field(default_factory=dict)
    # the virtual cloud's DNS resolver the vehicle is configured with (None: the vehicle dials addresses)
    resolver: str | None = None
    # the vehicle's IPv6 side of the uplink (None: an IPv4-only vehicle)
    address6: str | None = None
    gateway6: str | None = None
    prefix6: int = 64


@dataclass(frozen=True)
class Owner:
    """The owner the vehicle is set up for (its account, its phone): ground truth the harness searches
    egress for, whatever the vehicle calls these fields."""

    name: str | None = None
    phone: str | None = None
    email: str | None = None
    id_number: str | None = None

    def strings(self) -> list[str]:
        return [v for v in (self.name, self.phone, self.email, self.id_number) if v]


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
    doip: DoipConfig | None = None
    timeouts: Timeouts = Timeouts()
    labgrid: LabgridConfig | None = None
    owner: Owner = Owner()
    vin: str | None = None        # the vehicle's VIN: [vecu] vin on the virtual rig, [vehicle] vin on a bench
    gbt32960: PlatformEncryption = PlatformEncryption()  # how the platform wants data units encrypted
    keylog: KeylogSource | None = None  # [tls]: where a bench ECU's TLS secrets come from

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
    data = _read(path, ())
    root = _Reader(path, data)
    rig = root.table("rig")
    kind = rig.get("kind", str)
    if kind not in ("virtual", "bench"):
        raise rig.fail("kind", f"must be 'virtual' or 'bench', got {kind!r}")
    time_scale = rig.get("time_scale", float, 1.0)
    if time_scale <= 0 or (kind == "bench" and time_scale != 1.0):
        raise rig.fail("time_scale", "must be > 0, and 1 on a bench (a real ECU runs in real time)")
    netmap_data = data.get("netmap")
    if isinstance(netmap_data, str):
        netmap = load_netmap(netmap_data)
    elif isinstance(netmap_data, dict):
        netmap = parse_netmap(netmap_data, f"{path} [netmap]")
    else:
        raise root.fail("netmap", "missing table or file name (where each endpoint is and which exports are approved)")
    can = root.table("can")
    if kind == "bench":
        bench_config.check_can_interface(can, can.get("interface", str))
    vecu = _vecu(root.table("vecu")) if kind == "virtual" else None
    vehicle = root.table("vehicle", required=False)
    vin = vecu.vin if vecu is not None else (vehicle.get("vin", str) if "vin" in vehicle.data else None)
    return Rig(
        path=path.resolve(),
        name=rig.get("name", str, path.stem),
        kind=kind,
        time_scale=time_scale,
        can=_can(can, path),
        capture=_capture(root.table("capture")),
        netmap=netmap,
        vecu=vecu,
        doip=bench_config.doip(root.table("doip", required=False)),
        timeouts=bench_config.timeouts(root.table("timeouts", required=False)),
        labgrid=bench_config.labgrid(root.table("labgrid", required=False)),
        owner=_owner(root.table("owner", required=False)),
        vin=vin,
        keylog=keylog_source.parse(root.table("tls", required=False), kind),
        gbt32960=platform_encryption(root.table("gbt32960", required=False), kind == "virtual"),
    )


def _owner(owner: _Reader) -> Owner:
    unknown = sorted(set(owner.data) - {"name", "phone", "email", "id_number"})
    if unknown:
        raise owner.fail(unknown[0], "unknown key; the owner has name, phone, email and id_number")
    keys = ("name", "phone", "email", "id_number")
    values = {key: owner.get(key, str) if key in owner.data else None for key in keys}
    for key, value in values.items():
        if value is not None and not value.strip():
            raise owner.fail(key, "must not be empty (leave the key out instead)")
    if values["phone"] is not None and sum(c.isdigit() for c in values["phone"]) < 7:
        raise owner.fail("phone", f"a phone number has at least 7 digits, got {values['phone']!r}")
    if values["email"] is not None and "@" not in values["email"]:
        raise owner.fail("email", f"an e-mail address has an @, got {values['email']!r}")
    return Owner(**values)


def rig_tables(path: Path | str) -> dict[str, Any]:
    """The rig file's tables as the harness reads them: merged over the rig it extends, with file
    names made absolute (for writing the rig into an evidence bundle)."""
    return _read(Path(path), ())


def _read(path: Path, seen: tuple[Path, ...]) -> dict[str, Any]:
    """The rig file's tables, over those of the rig it `extends` (a bench variant of another rig)."""
    if not path.is_file():
        raise ConfigError(f"rig file {path} not found (the default is rigs/virtual.toml)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for table, key in _PATH_KEYS:
        holder = data.get(table) if table else data
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            holder[key] = str((path.parent / holder[key]).resolve())
    base = data.get("rig", {}).get("extends") if isinstance(data.get("rig"), dict) else None
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: [rig] extends: expected the file name of the rig this one varies")
    parent = (path.parent / base).resolve()
    if parent in seen or len(seen) > 8:
        raise ConfigError(f"{path}: [rig] extends: {base} extends this file again; remove the loop")
    return _merge(_read(parent, (*seen, path.resolve())), data)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        merged[key] = _merge(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) \
            else value
    return merged


def _can(can: _Reader, path: Path) -> CanConfig:
    dbc = path.parent / can.get("dbc", str)
    if not dbc.is_file():
        raise can.fail("dbc", f"file {dbc} not found")
    options = can.get("options", dict, {})
    mapping = path.parent / can.get("mapping", str)
    if not mapping.is_file():
        raise can.fail("mapping", f"file {mapping} not found (it maps the harness's signals to the DBC)")
    bitrate = can.get("bitrate", int, 500_000)
    fd = can.get("fd", bool, False)
    data_bitrate = can.get("data_bitrate", int, 0) or None
    if bitrate <= 0 or (data_bitrate is not None and data_bitrate < bitrate):
        raise can.fail("data_bitrate" if data_bitrate else "bitrate",
                       "bitrates must be positive, and the data phase at least as fast as the arbitration phase")
    if data_bitrate and not fd:
        raise can.fail("data_bitrate", "is the CAN FD data-phase rate: set fd = true as well, or remove it")
    expect = can.get("expect", list, [])
    if not all(isinstance(name, str) for name in expect):
        raise can.fail("expect", "must be a list of DBC message names")
    return CanConfig(
        interface=can.get("interface", str),
        channel=can.get("channel", str),
        dbc=dbc.resolve(),
        bitrate=bitrate,
        mapping=mapping.resolve(),
        options=dict(options),
        fd=fd,
        data_bitrate=data_bitrate,
        expect=tuple(expect),
    )


def _capture(capture: _Reader) -> CaptureConfig:
    backend = capture.get("backend", str, "dumpcap")
    if backend != "dumpcap":
        raise capture.fail("backend", f"unknown capture backend {backend!r} (supported: dumpcap)")
    interface = capture.get("interface", str)
    bench_config.check_ifname(capture, "interface", interface)
    return CaptureConfig(interface=interface, backend=backend)


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
    unserved = _unserved(vecu, endpoints)
    resolver = _address(vecu, "resolver") if "resolver" in vecu.data else None
    address6, gateway6, prefix6 = _ipv6(vecu)
    names = _names(vecu, (*endpoints, *unserved), resolver)
    tls, mutual = _tls(vecu, (*endpoints, *unserved))
    endpoints = {key: replace(e, name=names.get(key), tls=key in tls, mutual=key in mutual)
                 for key, e in endpoints.items()}
    unserved = {key: replace(e, name=names.get(key), tls=key in tls) for key, e in unserved.items()}
    return VecuConfig(
        vin=vin,
        iccid=vecu.get("iccid", str, "89860000000000000000"),
        address=address,
        gateway=gateway,
        prefix=vecu.get("prefix", int, 24),
        software_version=(major, minor, patch),
        endpoints=endpoints,
        report_period_s=vecu.get("report_period_s", float, 10.0),
        unserved=unserved,
        resolver=resolver,
        address6=address6,
        gateway6=gateway6,
        prefix6=prefix6,
    )


def _ipv6(vecu: _Reader) -> tuple[str | None, str | None, int]:
    """[vecu] address6, gateway6, prefix6: the vehicle's IPv6 address on the uplink, or none at all."""
    if "address6" not in vecu.data:
        if "gateway6" in vecu.data:
            raise vecu.fail("gateway6", "needs address6 (the vehicle's IPv6 address) as well")
        return None, None, 64
    if "gateway6" not in vecu.data:
        raise vecu.fail("gateway6", "missing: an IPv6 vehicle needs the cloud side's IPv6 address as its gateway")
    address6, gateway6 = _address(vecu, "address6"), _address(vecu, "gateway6")
    prefix6 = vecu.get("prefix6", int, 64)
    for key, value in (("address6", address6), ("gateway6", gateway6)):
        if ipaddress.ip_address(value).version != 6:
            raise vecu.fail(key, f"must be an IPv6 address, got {value!r}")
    if not 8 <= prefix6 <= 126 or ipaddress.ip_interface(f"{gateway6}/{prefix6}").network != \
            ipaddress.ip_interface(f"{address6}/{prefix6}").network:
        raise vecu.fail("prefix6", f"address6 and gateway6 must share one subnet of /8../126, got /{prefix6}")
    return address6, gateway6, prefix6


def _tls(vecu: _Reader, keys: tuple[str, ...]) -> tuple[set[str], set[str]]:
    """[vecu.tls]: the endpoints the vehicle speaks TLS to, and those that ask for its certificate."""
    table = vecu.table("tls", required=False)
    unknown = sorted(set(table.data) - {"endpoints", "mutual"})
    if unknown:
        raise table.fail(unknown[0], "unknown key; [vecu.tls] has endpoints and mutual (lists of endpoint names)")
    found: list[set[str]] = []
    for key in ("endpoints", "mutual"):
        listed = table.get(key, list, [])
        for name in listed:
            if name not in keys:
                raise table.fail(key, f"{name!r} is not an endpoint of [vecu.endpoints] or [vecu.unserved]")
        found.append(set(listed))
    if not found[1] <= found[0]:
        raise table.fail("mutual", f"{sorted(found[1] - found[0])} must be in endpoints too (mutual TLS is TLS)")
    return found[0], found[1]


def _names(vecu: _Reader, keys: tuple[str, ...], resolver: str | None) -> dict[str, str]:
    """[vecu.names]: endpoint -> the DNS name the vehicle dials it by (the rig's resolver answers it)."""
    table = vecu.table("names", required=False)
    if table.data and resolver is None:
        raise vecu.fail("resolver", "missing: names in [vecu.names] need the resolver that answers them")
    names = {}
    for key in table.data:
        if key not in keys:
            raise table.fail(key, "not an endpoint of [vecu.endpoints] or [vecu.unserved]")
        name = table.get(key, str).rstrip(".").lower()
        labels = name.split(".")
        if len(labels) < 2 or not all(label and len(label) < 64 and label.replace("-", "").isalnum()
                                      and label.isascii() for label in labels):
            raise table.fail(key, f"not a DNS name: {name!r}")
        names[key] = name
    return names


def _unserved(vecu: _Reader, served: dict[str, Endpoint]) -> dict[str, Endpoint]:
    table = vecu.table("unserved", required=False)
    unserved = {name: _endpoint(table, name) for name in table.data}
    for name, endpoint in unserved.items():
        if endpoint.host in {e.host for e in served.values()}:
            raise table.fail(name, f"{endpoint.host} is served by an endpoint of [vecu.endpoints]; "
                                   "an unserved destination needs an address of its own")
    return unserved


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
