"""The vehicle interface: the harness's abstract signals encoded to and decoded from a DBC.

Tests and the vECU speak abstract names (`vehicle.speed_kph`); the mapping file says which
DBC message and signal carries each, so a vehicle's own DBC can be used without code changes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import can
import cantools
from cantools.database.can import Database, Message

from harness.can.mapping import IDENTITY, SignalRef, Translation, Value, load_mapping
from harness.errors import ConfigError

__all__ = ["SignalRef", "Value", "VehicleCodec", "load_dbc"]


def load_dbc(path: Path) -> Database:
    try:
        db = cantools.database.load_file(str(path), database_format="dbc", strict=True)
    except FileNotFoundError:
        raise ConfigError(f"DBC {path} not found") from None
    except Exception as exc:  # cantools raises many parser types; all mean "this file is unusable"
        raise ConfigError(f"DBC {path} does not load: {str(exc).splitlines()[0][:200]}") from None
    if not isinstance(db, Database) or not db.messages:
        raise ConfigError(f"DBC {path} holds no CAN messages")
    return db


class VehicleCodec:
    """Encode abstract signal values into CAN frames and decode frames back into them."""

    def __init__(self, db: Database, signals: Mapping[str, SignalRef], counters: Mapping[str, str],
                 ecu_node: str, source: str = "", translations: Mapping[str, Translation] | None = None) -> None:
        self.db = db
        self.signals = dict(signals)
        self.counters = dict(counters)
        self.ecu_node = ecu_node
        # unit, scale and value-name differences between the harness's signals and this DBC
        self.translations = dict(translations or {})
        self._by_dbc = {(ref.message, ref.signal): name for name, ref in self.signals.items()}
        self._validate(source)

    @classmethod
    def load(cls, dbc: Path, mapping: Path) -> VehicleCodec:
        db = load_dbc(dbc)
        found = load_mapping(mapping, db)
        return cls(db, found.signals, found.counters, found.ecu_node, found.source, found.translations)

    def _validate(self, source: str) -> None:
        for name, ref in self.signals.items():
            message = self._message(ref.message, f"{source}: [signals] {name}")
            if ref.signal not in {s.name for s in message.signals}:
                raise ConfigError(f"{source}: [signals] {name}: message {ref.message} has no signal {ref.signal}")
        for message_name, counter in self.counters.items():
            message = self._message(message_name, f"{source}: [counters] {message_name}")
            if counter not in {s.name for s in message.signals}:
                raise ConfigError(f"{source}: [counters] {message_name}: no signal {counter}")
        if self.ecu_node not in {node.name for node in self.db.nodes}:
            raise ConfigError(f"{source}: [nodes] ecu: the DBC has no node {self.ecu_node!r}")

    def _message(self, name: str, where: str) -> Message:
        try:
            return self.db.get_message_by_name(name)
        except KeyError:
            raise ConfigError(f"{where}: the DBC has no message {name!r}") from None

    def message(self, name: str) -> Message:
        return self.db.get_message_by_name(name)

    def ref(self, name: str) -> SignalRef:
        try:
            return self.signals[name]
        except KeyError:
            raise ConfigError(f"signal {name!r} is not mapped to the DBC") from None

    def messages_sent_by(self, node: str) -> list[Message]:
        return [m for m in self.db.messages if node in m.senders]

    def simulated_messages(self) -> list[Message]:
        """Cyclic messages of every node but the ECU under test: the rest of the vehicle."""
        return [m for m in self.db.messages if m.cycle_time and self.ecu_node not in m.senders]

    def ecu_messages(self) -> list[Message]:
        return [m for m in self.db.messages if m.cycle_time and self.ecu_node in m.senders]

    def initial_values(self, message: Message) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for signal in message.signals:
            raw = signal.raw_initial if signal.raw_initial is not None else 0
            values[signal.name] = signal.conversion.raw_to_scaled(raw, decode_choices=False)
        return values

    def to_dbc(self, values: Mapping[str, Value]) -> dict[str, dict[str, Value]]:
        """Group abstract values by DBC message: {message: {signal: value}}."""
        grouped: dict[str, dict[str, Value]] = {}
        for name, value in values.items():
            ref = self.ref(name)
            grouped.setdefault(ref.message, {})[ref.signal] = self.translations.get(name, IDENTITY).to_dbc(value)
        return grouped

    def from_dbc(self, name: str, value: Value) -> Value:
        """A DBC value of the signal carrying `name`, in the harness's units and value names."""
        return self.translations.get(name, IDENTITY).from_dbc(value)

    def is_ecu_message(self, message_name: str) -> bool:
        try:
            return self.ecu_node in self.message(message_name).senders
        except KeyError:
            return False

    def encode(self, message: Message, dbc_values: Mapping[str, Any]) -> can.Message:
        values = dict(dbc_values)
        if message.is_multiplexed():
            values = message.gather_signals(values)  # only the signals of the selected page
        data = message.encode(values, scaling=True, padding=True, strict=True)
        return can.Message(arbitration_id=message.frame_id, data=data,
                           is_extended_id=message.is_extended_frame, is_fd=message.is_fd)

    def decode(self, arbitration_id: int, data: bytes) -> tuple[str, dict[str, Value]] | None:
        """(message name, {abstract name: value}) or None for frames the DBC does not know."""
        try:
            message = self.db.get_message_by_frame_id(arbitration_id)
            decoded = cast(dict[str, Any], message.decode(data, decode_choices=True, scaling=True,
                                                          allow_truncated=False))
        except Exception:  # noqa: BLE001 - an unknown id or a malformed frame is simply not decodable
            return None
        values: dict[str, Value] = {}
        for signal, value in decoded.items():
            name = self._by_dbc.get((message.name, signal))
            if name is not None:
                values[name] = self.from_dbc(name, value if isinstance(value, int | float) else str(value))
        counter = self.counters.get(message.name)
        if counter is not None and counter in decoded:
            values[f"counter.{message.name}"] = int(decoded[counter])
        return message.name, values

    def counter_modulus(self, message_name: str) -> int | None:
        counter = self.counters.get(message_name)
        if counter is None:
            return None
        return 1 << self.message(message_name).get_signal_by_name(counter).length

    def abstract_names(self) -> Iterable[str]:
        return self.signals.keys()
