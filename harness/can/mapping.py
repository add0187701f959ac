"""Signal mapping files: the harness's abstract signals onto a vehicle's own DBC, with the unit,
scale and enum-name translations between the two, checked against the DBC when loaded.

The harness's vocabulary (what `vehicle.gear` means, its unit, its values) is dbc/vehicle.dbc read
through dbc/vehicle.signals.toml; any other DBC is accepted only where it can say the same things."""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cantools.database.can import Database, Message, Signal

from harness.can import units
from harness.errors import ConfigError
from harness.paths import data_dir

Value = float | int | str
# a foreign DBC's range may differ from the harness's, but not by orders of magnitude: that is a
# scale the mapping forgot to declare (a fraction read as percent, m/s read as km/h)
RANGE_RATIO = 20.0
ENTRY_KEYS = {"signal", "unit", "factor", "offset", "values"}


@dataclass(frozen=True)
class SignalRef:
    message: str
    signal: str


@dataclass(frozen=True)
class Meaning:
    """What an abstract signal is, as the harness's own DBC defines it."""

    unit: str
    choices: tuple[str, ...] | None
    minimum: float | None
    maximum: float | None
    integer: bool


@dataclass(frozen=True)
class Translation:
    """harness value = DBC value * factor + offset, or by name through the value tables."""

    factor: float = 1.0
    offset: float = 0.0
    to_dbc_values: Mapping[Value, Value] = field(default_factory=dict)
    from_dbc_values: Mapping[Value, Value] = field(default_factory=dict)
    integer: bool = False

    @property
    def identity(self) -> bool:
        return self.factor == 1.0 and self.offset == 0.0 and not self.to_dbc_values

    def to_dbc(self, value: Value) -> Value:
        if value in self.to_dbc_values:
            return self.to_dbc_values[value]
        if isinstance(value, str) or (self.factor == 1.0 and self.offset == 0.0):
            return value
        return (float(value) - self.offset) / self.factor

    def from_dbc(self, value: Value) -> Value:
        if value in self.from_dbc_values:
            return self.from_dbc_values[value]
        if isinstance(value, str) or (self.factor == 1.0 and self.offset == 0.0):
            return value
        converted = float(value) * self.factor + self.offset
        # an integer signal (minutes, a campaign id) stays an integer despite float arithmetic
        return round(converted) if self.integer else converted


IDENTITY = Translation()


@dataclass(frozen=True)
class SignalMapping:
    signals: dict[str, SignalRef]
    translations: dict[str, Translation]
    counters: dict[str, str]
    ecu_node: str
    source: str

    def missing(self) -> list[str]:
        """Harness signals this mapping leaves out: suites that use them cannot run on this DBC."""
        return sorted(set(vocabulary()) - set(self.signals))


def reference_files() -> tuple[Path, Path]:
    directory = data_dir("dbc")
    return directory / "vehicle.dbc", directory / "vehicle.signals.toml"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"signal mapping {path} not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _target(entry: Any) -> str | None:
    if isinstance(entry, str):
        return entry
    if isinstance(entry, dict) and isinstance(entry.get("signal"), str):
        return str(entry["signal"])
    return None


@functools.cache
def vocabulary() -> dict[str, Meaning]:
    """Every abstract signal the harness speaks, with its unit, values and range."""
    from harness.can.codec import load_dbc  # the codec builds on this module

    dbc, mapping = reference_files()
    db = load_dbc(dbc)
    meanings: dict[str, Meaning] = {}
    for name, entry in _read_toml(mapping).get("signals", {}).items():
        message, _, signal = (_target(entry) or "").partition(".")
        try:
            sig = db.get_message_by_name(message).get_signal_by_name(signal)
        except KeyError:
            continue  # the reference mapping is validated when it is loaded as a mapping
        choices = tuple(str(c) for c in sig.choices.values()) if sig.choices else None
        integer = float(sig.scale).is_integer() and float(sig.offset).is_integer()
        meanings[name] = Meaning(units.normalise(sig.unit), choices, _float(sig.minimum), _float(sig.maximum), integer)
    return meanings


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def load_mapping(path: Path, db: Database) -> SignalMapping:
    """Read and check a mapping file against the DBC it maps onto; errors name the key and the fix."""
    data = _read_toml(path)
    words = vocabulary()
    signals: dict[str, SignalRef] = {}
    translations: dict[str, Translation] = {}
    table = data.get("signals", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [signals] must be a table of \"harness.signal\" = \"Message.Signal\"")
    for name, entry in table.items():
        where = f"{path}: [signals] {name}"
        if name not in words:
            raise ConfigError(f"{where}: not a signal of the harness; the harness's signals are the keys of "
                              f"{reference_files()[1]}")
        ref, signal = _resolve(where, entry, db)
        signals[name] = ref
        translations[name] = _translation(where, entry if isinstance(entry, dict) else {}, signal, words[name])
    counters = data.get("counters", {})
    if not isinstance(counters, dict):
        raise ConfigError(f"{path}: [counters] must be a table of Message = \"CounterSignal\"")
    for message_name, counter in counters.items():
        message = _message(db, message_name, f"{path}: [counters] {message_name}")
        if counter not in {s.name for s in message.signals}:
            raise ConfigError(f"{path}: [counters] {message_name}: the DBC's {message_name} has no signal {counter!r}")
    ecu = data.get("nodes", {}).get("ecu")
    if not isinstance(ecu, str):
        raise ConfigError(f"{path}: [nodes] ecu: name the DBC node that is the ECU under test")
    if ecu not in {node.name for node in db.nodes}:
        nodes = ", ".join(node.name for node in db.nodes)
        raise ConfigError(f"{path}: [nodes] ecu: the DBC has no node {ecu!r} (its nodes: {nodes})")
    return SignalMapping(signals, translations, dict(counters), ecu, str(path))


def _message(db: Database, name: str, where: str) -> Message:
    try:
        return db.get_message_by_name(name)
    except KeyError:
        raise ConfigError(f"{where}: the DBC has no message {name!r}") from None


def _resolve(where: str, entry: Any, db: Database) -> tuple[SignalRef, Signal]:
    if isinstance(entry, dict):
        unknown = set(entry) - ENTRY_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))} "
                              f"(allowed: {', '.join(sorted(ENTRY_KEYS))})")
    target = _target(entry)
    if target is None:
        raise ConfigError(f"{where}: expected \"Message.Signal\" or {{ signal = \"Message.Signal\", ... }}")
    message_name, dot, signal_name = target.partition(".")
    if not dot:
        raise ConfigError(f"{where}: expected \"Message.Signal\", got {target!r}")
    message = _message(db, message_name, where)
    try:
        signal = message.get_signal_by_name(signal_name)
    except KeyError:
        names = ", ".join(s.name for s in message.signals)
        raise ConfigError(f"{where}: message {message_name} has no signal {signal_name!r} (it has: {names})") from None
    return SignalRef(message_name, signal_name), signal


def _translation(where: str, entry: dict[str, Any], signal: Signal, meaning: Meaning) -> Translation:
    values = entry.get("values")
    if values is not None:
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: values must be a table {{ harness value = DBC value name }}")
        return _value_table(where, values, signal, meaning)
    if meaning.choices is not None:
        return _named_values(where, {}, signal, meaning)
    if signal.choices and not meaning.choices:
        raise ConfigError(f"{where}: the DBC gives {signal.name} value names ({_names(signal)}) but the harness reads "
                          "numbers: add values = { 0 = \"NAME\", ... }")
    factor, offset = _scale(where, entry, signal, meaning)
    translation = Translation(factor, offset, integer=meaning.integer)
    _check_range(where, signal, meaning, translation)
    return translation


def _scale(where: str, entry: dict[str, Any], signal: Signal, meaning: Meaning) -> tuple[float, float]:
    declared, dbc_unit = entry.get("unit"), units.normalise(signal.unit)
    factor, offset = entry.get("factor"), entry.get("offset", 0.0)
    for key, value in (("factor", factor), ("offset", offset)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{where}: {key} must be a number, got {value!r}")
    if declared is not None:
        if not isinstance(declared, str):
            raise ConfigError(f"{where}: unit must be a string such as \"m/s\"")
        if dbc_unit and not units.same(declared, dbc_unit):
            raise ConfigError(f"{where}: unit = {declared!r}, but the DBC says {signal.name} is in {signal.unit!r}: "
                              "declare the DBC's unit")
    if factor is not None:
        if factor == 0:
            raise ConfigError(f"{where}: factor must not be 0")
        return float(factor), float(offset)
    source = units.normalise(declared) if declared is not None else dbc_unit
    if not source or not meaning.unit or units.same(source, meaning.unit):
        return 1.0, float(offset)
    converted = units.factor(source, meaning.unit)
    if converted is None:
        raise ConfigError(
            f"{where}: {signal.name} is in {source!r} but the harness's signal is in {meaning.unit!r} and the harness "
            f"knows no conversion between them: give factor = (harness value per DBC unit) and offset "
            f"(known units: {units.known_units()})")
    if declared is None:
        raise ConfigError(f"{where}: {signal.name} is in {signal.unit!r} but the harness's signal is in "
                          f"{meaning.unit!r}: declare unit = {signal.unit!r} to convert (factor {converted:g})")
    return converted, float(offset)


def _check_range(where: str, signal: Signal, meaning: Meaning, translation: Translation) -> None:
    """A scale the mapping forgot shows as a range orders of magnitude off the harness's."""
    if None in (signal.minimum, signal.maximum, meaning.minimum, meaning.maximum):
        return
    ours = float(meaning.maximum) - float(meaning.minimum)  # type: ignore[arg-type]
    theirs = abs(float(signal.maximum) - float(signal.minimum)) * abs(translation.factor)  # type: ignore[arg-type]
    if ours <= 0 or theirs <= 0:
        return
    if not 1 / RANGE_RATIO <= theirs / ours <= RANGE_RATIO:
        raise ConfigError(
            f"{where}: {signal.name} spans {theirs:g} {meaning.unit or 'units'} after conversion where the harness's "
            f"signal spans {ours:g}: a scale is missing; declare unit = \"...\" (e.g. \"fraction\" for 0..1 "
            "against percent) or factor")


def _names(signal: Signal) -> str:
    return ", ".join(str(v) for v in (signal.choices or {}).values())


def _value_table(where: str, values: dict[str, Any], signal: Signal, meaning: Meaning) -> Translation:
    if meaning.choices is not None:
        return _named_values(where, values, signal, meaning)
    # a number in the harness (a page index) named or renumbered in the DBC
    to_dbc: dict[Value, Value] = {}
    for key, target in values.items():
        try:
            number = float(key)
        except ValueError:
            raise ConfigError(f"{where}: values: {key!r}: the harness's signal is a number, so keys are numbers") \
                from None
        to_dbc[int(number) if number.is_integer() else number] = _dbc_value(where, key, target, signal)
    return _tables(where, to_dbc, meaning)


def _named_values(where: str, values: dict[str, Any], signal: Signal, meaning: Meaning) -> Translation:
    assert meaning.choices is not None
    unknown = set(values) - set(meaning.choices)
    if unknown:
        raise ConfigError(f"{where}: values: {', '.join(sorted(unknown))} not among the harness's values "
                          f"({', '.join(meaning.choices)})")
    to_dbc: dict[Value, Value] = {}
    for name in meaning.choices:
        if name in values:
            to_dbc[name] = _dbc_value(where, name, values[name], signal)
        elif signal.choices and name in {str(v) for v in signal.choices.values()}:
            to_dbc[name] = name  # same name on both sides
        else:
            offer = f" (the DBC's names: {_names(signal)})" if signal.choices else ""
            raise ConfigError(f"{where}: the harness value {name!r} has no counterpart in {signal.name}: add "
                              f"values = {{ {name} = \"...\" }}{offer}")
    return _tables(where, to_dbc, meaning)


def _dbc_value(where: str, key: str, target: Any, signal: Signal) -> Value:
    names = {str(v) for v in (signal.choices or {}).values()}
    if isinstance(target, str):
        if target not in names:
            raise ConfigError(f"{where}: values: {key} = {target!r}: {signal.name} has no value named {target!r}"
                              + (f" (it has: {_names(signal)})" if names else " (it names no values: give the number)"))
        return target
    if isinstance(target, int) and not isinstance(target, bool):
        if signal.choices and target in signal.choices:
            return str(signal.choices[target])  # the name the DBC decodes it as
        return target
    raise ConfigError(f"{where}: values: {key}: expected a DBC value name or a number, got {target!r}")


def _tables(where: str, to_dbc: dict[Value, Value], meaning: Meaning) -> Translation:
    from_dbc: dict[Value, Value] = {}
    for ours, theirs in to_dbc.items():
        if theirs in from_dbc:
            raise ConfigError(f"{where}: values: {from_dbc[theirs]!r} and {ours!r} both map to {theirs!r}; "
                              "decoding could not tell them apart")
        from_dbc[theirs] = ours
    identity = all(ours == theirs for ours, theirs in to_dbc.items())
    if identity:
        return IDENTITY
    return Translation(to_dbc_values=to_dbc, from_dbc_values=from_dbc, integer=meaning.integer)
