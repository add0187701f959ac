"""Evidence: one capture file turned into what checks read (flows, CAN signal timeline,
completeness), with nothing taken from the ECU's own account of itself.

Built the same way live and offline, so replaying a capture gives the same verdicts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.can.codec import Value, VehicleCodec
from harness.net.flows import FlowTable
from harness.net.pcapfile import LINKTYPE_CAN_SOCKETCAN, CaptureInfo, iter_capture, parse_socketcan


@dataclass(frozen=True)
class CanRecord:
    time: float
    message: str
    arbitration_id: int
    values: dict[str, Value]


@dataclass
class Evidence:
    path: Path
    flows: FlowTable
    can: list[CanRecord]
    info: CaptureInfo
    can_frames: int = 0
    can_gaps: dict[str, int] = field(default_factory=dict)

    @property
    def packets(self) -> int:
        return self.flows.packets

    @property
    def ethernet_complete(self) -> bool:
        """The capturer reported its counters and lost nothing, and the file is whole."""
        return self.info.drop_reported and self.info.dropped == 0 and not self.info.truncated

    def completeness_problems(self) -> list[str]:
        problems = []
        if self.info.truncated:
            problems.append(f"capture file is truncated{': ' + self.info.problem if self.info.problem else ''}")
        if not self.info.drop_reported:
            problems.append("capture holds no drop counters, so its completeness is unknown")
        elif self.info.dropped:
            problems.append(f"capturer dropped {self.info.dropped} packets")
        return problems

    def vehicle_time(self, wall: float) -> float | None:
        """Vehicle time at a capture timestamp, from the last clock frame before it."""
        clock = None
        for record in self.can:
            if record.time > wall:
                break
            value = record.values.get("time.vehicle_ms")
            if value is not None:
                clock = (record.time, float(value) / 1000.0)
        return None if clock is None else clock[1] + (wall - clock[0])

    def vehicle_seconds(self, earlier: float, later: float) -> float:
        """Vehicle-time seconds between two capture timestamps (wall seconds without a clock)."""
        a, b = self.vehicle_time(earlier), self.vehicle_time(later)
        return (b - a) if a is not None and b is not None else later - earlier

    def can_series(self, message: str) -> list[CanRecord]:
        return [r for r in self.can if r.message == message]


def load_evidence(path: Path, codec: VehicleCodec | None) -> Evidence:
    info = CaptureInfo()
    table = FlowTable()
    records: list[CanRecord] = []
    frames = 0
    last_counter: dict[str, int] = {}
    gaps: dict[str, int] = {}
    for packet in iter_capture(path, info):
        if packet.linktype != LINKTYPE_CAN_SOCKETCAN:
            table.add(packet)
            continue
        frames += 1
        parsed = parse_socketcan(packet.data)
        if parsed is None or codec is None:
            continue
        arbitration_id, data, _extended, error = parsed
        decoded = None if error else codec.decode(arbitration_id, data)
        if decoded is None:
            continue
        name, values = decoded
        records.append(CanRecord(packet.time, name, arbitration_id, values))
        counter = values.get(f"counter.{name}")
        modulus = codec.counter_modulus(name)
        if isinstance(counter, int) and modulus:
            previous = last_counter.get(name)
            if previous is not None:
                # each transmission advances the counter by one; anything else means lost frames
                missing = (counter - previous - 1) % modulus
                if missing:
                    gaps[name] = gaps.get(name, 0) + missing
            last_counter[name] = counter
    return Evidence(path, table, records, info, frames, gaps)
