"""GB/T 32960.3-2016 information units of real-time / re-issued reports, as scapy layers.

Also the six-byte time field and the frozen dataclasses the virtual ECU builds the units from."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from scapy.fields import (
    ByteEnumField,
    ByteField,
    Field,
    FieldLenField,
    FieldListField,
    FlagsField,
    FlagValue,
    PacketListField,
    ScalingField,
    ShortField,
    XByteField,
    XIntField,
)
from scapy.packet import Packet, Raw

from harness.net.gbt32960_frames import MAX_UNITS, UNIT_TYPES

# The standard fixes all times to Beijing time; aware datetimes are converted, naive ones written as given.
GMT8 = timezone(timedelta(hours=8))
# Generous cap on units per report: real reports hold about ten, and scapy's own default (100) would
# turn a long but valid list into an exception.

_T = TypeVar("_T")


class TimeField(Field[datetime | bytes | None, bytes]):
    """Six bytes yy mm dd hh mm ss (year - 2000); dissects to a naive datetime in GMT+8.

    Bytes that are no valid date (month 13, ...) stay bytes, so a decoder can report them and a rebuild
    reproduces them."""

    def __init__(self, name: str, default: datetime | bytes | None = None) -> None:
        super().__init__(name, default, "6s")

    def i2m(self, pkt: Packet | None, x: datetime | bytes | None) -> bytes:
        if x is None:
            return bytes(6)
        if isinstance(x, bytes):
            return x
        if x.tzinfo is not None:
            x = x.astimezone(GMT8)
        if not 2000 <= x.year <= 2255:
            raise ValueError(f"year {x.year} does not fit the one-byte year-2000 encoding")
        return bytes((x.year - 2000, x.month, x.day, x.hour, x.minute, x.second))

    def m2i(self, pkt: Packet | None, x: bytes) -> datetime | bytes:
        try:
            return datetime(2000 + x[0], x[1], x[2], x[3], x[4], x[5])
        except ValueError:
            return x

    def i2repr(self, pkt: Packet | None, x: datetime | bytes | None) -> str:
        return x.isoformat(sep=" ") if isinstance(x, datetime) else repr(x)


_INVALID = {0xFE: "abnormal", 0xFF: "invalid"}
_VEHICLE_STATE = {0x01: "started", 0x02: "stopped", 0x03: "other", **_INVALID}
_CHARGING = {
    0x01: "parked charging", 0x02: "driving charging", 0x03: "not charging", 0x04: "charged", **_INVALID,
}
_MODE = {0x01: "electric", 0x02: "hybrid", 0x03: "fuel", **_INVALID}
_DCDC = {0x01: "working", 0x02: "off", **_INVALID}
_MOTOR_STATE = {0x01: "consuming", 0x02: "generating", 0x03: "off", 0x04: "ready", **_INVALID}
_ENGINE_STATE = {0x01: "on", 0x02: "off", **_INVALID}
# General alarm flags, bit 0 first (standard table 18).
_ALARM_BITS = [
    "temp_difference", "battery_high_temp", "storage_over_voltage", "storage_under_voltage", "soc_low",
    "cell_over_voltage", "cell_under_voltage", "soc_high", "soc_jump", "storage_mismatch",
    "cell_inconsistency", "insulation", "dcdc_temp", "brake_system", "dcdc_state", "motor_controller_temp",
    "hv_interlock", "motor_temp", "storage_overcharge",
]


class _Record(Packet):
    """Base of units and their sub-records: the bytes after the record go back to the enclosing list."""

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes]:
        return b"", s


def _type(code: int) -> ByteEnumField:
    return ByteEnumField("type", code, UNIT_TYPES)


def _counted(name: str, item: Field[Any, Any], fmt: str = "B") -> list[Field[Any, Any]]:
    """A count field followed by the list it counts."""
    count = f"{name}_count"
    return [
        FieldLenField(count, None, fmt=fmt, count_of=name),
        FieldListField(name, [], item, count_from=lambda p: p.getfieldval(count), max_count=0xFFFF),
    ]


class GBT32960VehicleData(_Record):
    name = "GB/T 32960 whole-vehicle data (0x01)"
    fields_desc = [
        _type(0x01),
        ByteEnumField("vehicle_state", 0x01, _VEHICLE_STATE),
        ByteEnumField("charging_state", 0x03, _CHARGING),
        ByteEnumField("mode", 0x01, _MODE),
        ScalingField("speed_kmh", 0, scaling=0.1, unit="km/h", fmt="H"),
        ScalingField("odometer_km", 0, scaling=0.1, unit="km", fmt="I"),
        ScalingField("voltage_v", 0, scaling=0.1, unit="V", fmt="H"),
        ScalingField("current_a", 0, scaling=0.1, offset=-1000, unit="A", fmt="H"),
        ByteField("soc_pct", 0),
        ByteEnumField("dcdc_state", 0x01, _DCDC),
        XByteField("gear", 0x0F),  # bits 0-3 gear (0x0F park), bit 4 driving force, bit 5 braking force
        ShortField("insulation_kohm", 0),
        ByteField("accelerator_pct", 0),
        ByteField("brake_pct", 0),
    ]


class GBT32960MotorEntry(_Record):
    name = "GB/T 32960 drive motor"
    fields_desc = [
        ByteField("serial", 1),
        ByteEnumField("state", 0x03, _MOTOR_STATE),
        ScalingField("controller_temp_c", 0, offset=-40, unit="C"),
        ScalingField("speed_rpm", 0, offset=-20000, unit="rpm", fmt="H"),
        ScalingField("torque_nm", 0, scaling=0.1, offset=-2000, unit="Nm", fmt="H"),
        ScalingField("temp_c", 0, offset=-40, unit="C"),
        ScalingField("controller_voltage_v", 0, scaling=0.1, unit="V", fmt="H"),
        ScalingField("controller_current_a", 0, scaling=0.1, offset=-1000, unit="A", fmt="H"),
    ]


class GBT32960Motors(_Record):
    name = "GB/T 32960 drive motor data (0x02)"
    fields_desc = [
        _type(0x02),
        FieldLenField("count", None, fmt="B", count_of="motors"),
        PacketListField("motors", [], GBT32960MotorEntry, count_from=lambda p: p.count, max_count=0xFF),
    ]


class GBT32960Engine(_Record):
    name = "GB/T 32960 engine data (0x04)"
    fields_desc = [
        _type(0x04),
        ByteEnumField("state", 0x02, _ENGINE_STATE),
        ShortField("crankshaft_rpm", 0),
        ScalingField("fuel_l_per_100km", 0, scaling=0.01, unit="L/100km", fmt="H"),
    ]


class GBT32960Location(_Record):
    name = "GB/T 32960 vehicle location (0x05)"
    fields_desc = [
        _type(0x05),
        FlagsField("status", 0, 8, ["invalid", "south", "west"]),
        # Absolute values; the hemisphere is in the status bits.
        ScalingField("longitude", 0, scaling=1e-6, ndigits=6, unit="deg", fmt="I"),
        ScalingField("latitude", 0, scaling=1e-6, ndigits=6, unit="deg", fmt="I"),
    ]


class GBT32960Extremes(_Record):
    name = "GB/T 32960 extreme values (0x06)"
    fields_desc = [
        _type(0x06),
        ByteField("max_voltage_subsystem", 1),
        ByteField("max_voltage_cell", 1),
        ScalingField("max_cell_voltage_v", 0, scaling=0.001, unit="V", fmt="H"),
        ByteField("min_voltage_subsystem", 1),
        ByteField("min_voltage_cell", 1),
        ScalingField("min_cell_voltage_v", 0, scaling=0.001, unit="V", fmt="H"),
        ByteField("max_temp_subsystem", 1),
        ByteField("max_temp_probe", 1),
        ScalingField("max_temp_c", 0, offset=-40, unit="C"),
        ByteField("min_temp_subsystem", 1),
        ByteField("min_temp_probe", 1),
        ScalingField("min_temp_c", 0, offset=-40, unit="C"),
    ]


class GBT32960Alarms(_Record):
    name = "GB/T 32960 alarm data (0x07)"
    fields_desc = [
        _type(0x07),
        ByteField("level", 0),
        FlagsField("general_flags", 0, 32, _ALARM_BITS),
        *_counted("storage_faults", XIntField("", 0)),
        *_counted("motor_faults", XIntField("", 0)),
        *_counted("engine_faults", XIntField("", 0)),
        *_counted("other_faults", XIntField("", 0)),
    ]


class GBT32960CellVoltages(_Record):
    name = "GB/T 32960 storage subsystem voltages"
    fields_desc = [
        ByteField("subsystem", 1),
        ScalingField("voltage_v", 0, scaling=0.1, unit="V", fmt="H"),
        ScalingField("current_a", 0, scaling=0.1, offset=-1000, unit="A", fmt="H"),
        ShortField("total_cells", 0),
        ShortField("frame_start_cell", 1),
        *_counted("cell_voltages_v", ScalingField("", 0, scaling=0.001, unit="V", fmt="H")),
    ]


class GBT32960StorageVoltages(_Record):
    name = "GB/T 32960 energy storage voltages (0x08)"
    fields_desc = [
        _type(0x08),
        FieldLenField("count", None, fmt="B", count_of="subsystems"),
        PacketListField("subsystems", [], GBT32960CellVoltages, count_from=lambda p: p.count, max_count=0xFF),
    ]


class GBT32960ProbeTemperatures(_Record):
    name = "GB/T 32960 storage subsystem temperatures"
    fields_desc = [
        ByteField("subsystem", 1),
        *_counted("temperatures_c", ScalingField("", 0, offset=-40, unit="C"), fmt="H"),
    ]


class GBT32960StorageTemperatures(_Record):
    name = "GB/T 32960 energy storage temperatures (0x09)"
    fields_desc = [
        _type(0x09),
        FieldLenField("count", None, fmt="B", count_of="subsystems"),
        PacketListField("subsystems", [], GBT32960ProbeTemperatures, count_from=lambda p: p.count,
                        max_count=0xFF),
    ]


# 0x03 (fuel cell) is absent on purpose: public implementations disagree on its probe-count width.
UNIT_CLASSES: dict[int, type[Packet]] = {
    0x01: GBT32960VehicleData, 0x02: GBT32960Motors, 0x04: GBT32960Engine, 0x05: GBT32960Location,
    0x06: GBT32960Extremes, 0x07: GBT32960Alarms, 0x08: GBT32960StorageVoltages,
    0x09: GBT32960StorageTemperatures,
}


def counts_consistent(pkt: Packet) -> bool:
    """True when every count field matches its list and no nested record fell back to Raw.

    Scapy ends a counted list silently when the bytes run out, so a truncated unit would look whole."""
    for fld in pkt.fields_desc:
        val = pkt.getfieldval(fld.name)
        if isinstance(fld, FieldLenField) and fld.count_of and val is not None:
            if val != len(pkt.getfieldval(fld.count_of)):
                return False
        if isinstance(fld, PacketListField):
            if not all(isinstance(sub, Packet) and not isinstance(sub, Raw) and counts_consistent(sub)
                       for sub in val):
                return False
    return True


def next_unit(pkt: Packet, lst: Sequence[object], cur: Packet | None, remain: bytes) -> type[Packet] | None:
    """Class of the next info unit, or None to end the list (scapy's next_cls_cb protocol).

    Units carry no length, so an unknown type (custom 0x80-0xFE, fuel cell) or a unit that does not dissect
    completely ends decoding; the report keeps the rest as raw bytes."""
    cls = UNIT_CLASSES.get(remain[0]) if remain and len(lst) < MAX_UNITS else None
    if cls is None:
        return None
    try:
        trial = cls(remain)
    except Exception:  # any dissection failure just means "stop here"
        return None
    return cls if counts_consistent(trial) else None


@dataclass(frozen=True)
class VehicleData:
    """Whole-vehicle data; enum fields take the raw codes of the standard (0xFE abnormal, 0xFF invalid)."""

    vehicle_state: int = 0x01
    charging_state: int = 0x03
    mode: int = 0x01
    speed_kmh: float = 0.0
    odometer_km: float = 0.0
    voltage_v: float = 0.0
    current_a: float = 0.0
    soc_pct: int = 0
    dcdc_state: int = 0x01
    gear: int = 0x0F
    insulation_kohm: int = 0
    accelerator_pct: int = 0
    brake_pct: int = 0


@dataclass(frozen=True)
class MotorData:
    serial: int = 1
    state: int = 0x03
    controller_temp_c: int = 0
    speed_rpm: int = 0
    torque_nm: float = 0.0
    temp_c: int = 0
    controller_voltage_v: float = 0.0
    controller_current_a: float = 0.0


@dataclass(frozen=True)
class Location:
    """Signed degrees: negative latitude is south, negative longitude is west."""

    latitude: float
    longitude: float
    valid: bool = True


@dataclass(frozen=True)
class Extremes:
    max_voltage_subsystem: int = 1
    max_voltage_cell: int = 1
    max_cell_voltage_v: float = 0.0
    min_voltage_subsystem: int = 1
    min_voltage_cell: int = 1
    min_cell_voltage_v: float = 0.0
    max_temp_subsystem: int = 1
    max_temp_probe: int = 1
    max_temp_c: int = 0
    min_temp_subsystem: int = 1
    min_temp_probe: int = 1
    min_temp_c: int = 0


@dataclass(frozen=True)
class Alarms:
    level: int = 0
    general_flags: int = 0
    storage_faults: tuple[int, ...] = ()
    motor_faults: tuple[int, ...] = ()
    engine_faults: tuple[int, ...] = ()
    other_faults: tuple[int, ...] = ()


def unit_fields(obj: Any) -> dict[str, Any]:
    """Dataclass fields as scapy field values (dataclass and layer share field names)."""
    # FieldListField would wrap a tuple as one element, so hand it lists.
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(obj).items()}


def unit_view(cls: type[_T], pkt: Packet) -> _T:
    """The dataclass `cls` filled from the same-named fields of a dissected unit."""
    def plain(v: Any) -> Any:
        return tuple(v) if isinstance(v, list) else int(v) if isinstance(v, FlagValue) else v
    return cls(**{f.name: plain(pkt.getfieldval(f.name)) for f in dataclasses.fields(cls)})  # type: ignore[arg-type]


def location_unit(loc: Location) -> GBT32960Location:
    if not (-90 <= loc.latitude <= 90 and -180 <= loc.longitude <= 180):
        raise ValueError(f"latitude/longitude out of range: {loc}")
    status = (0 if loc.valid else 1) | (2 if loc.latitude < 0 else 0) | (4 if loc.longitude < 0 else 0)
    return GBT32960Location(status=status, latitude=abs(loc.latitude), longitude=abs(loc.longitude))


def location_view(pkt: Packet) -> Location:
    status = int(pkt.status)
    return Location(
        latitude=-pkt.latitude if status & 2 else pkt.latitude,
        longitude=-pkt.longitude if status & 4 else pkt.longitude,
        valid=not status & 1,
    )
