"""Evidence: one capture file turned into what checks read (flows, CAN signal timeline,
completeness), with nothing taken from the ECU's own account of itself.

Built the same way live and offline, so replaying a capture gives the same verdicts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from harness.can.bus_errors import CanError
from harness.can.codec import Value, VehicleCodec
from harness.net.dns import DnsNames, collect_names
from harness.net.flows import TCP, Flow, FlowTable
from harness.net.gbt32960_crypto import UnitKeys, readable_unit_key
from harness.net.keylog import KeyLog, readable_keylog, recorded_problem
from harness.net.pcapfile import LINKTYPE_CAN_SOCKETCAN, CaptureInfo, iter_records, parse_socketcan
from harness.net.tls import looks_like_tls, tls_session
from harness.net.vehicle_time import VehicleTime
from harness.truth.from_can import track_from_can
from harness.truth.model import GroundTruth


@dataclass(frozen=True)
class CanRecord:
    time: float
    message: str
    arbitration_id: int
    values: dict[str, Value]
    data: bytes = b""  # the frame's payload, for transport protocols above CAN (ISO-TP diagnostics)


@dataclass(frozen=True)
class EcuActivity:
    """When the ECU under test sent one of its cyclic messages during the recording."""

    first: float
    last: float
    frames: int
    cycle_s: float


@dataclass
class Evidence:
    path: Path
    flows: FlowTable
    can: list[CanRecord]
    info: CaptureInfo
    can_frames: int = 0
    can_gaps: dict[str, int] = field(default_factory=dict)
    can_errors: list[CanError] = field(default_factory=list)
    # the ECU's cyclic messages by DBC name (expected) and when each was seen (activity)
    ecu_expected: tuple[str, ...] = ()
    ecu_activity: dict[str, EcuActivity] = field(default_factory=dict)
    # why the key log the capture was read with may lack secrets (a bench's fetch failed, a garbled log)
    keylog_problem: str | None = None
    _server_names: dict[str, tuple[str, ...]] = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def truth(self) -> GroundTruth | None:
        """The ground truth the payloads were searched for (None: only names and containers)."""
        return self.flows.recognition.truth

    @property
    def packets(self) -> int:
        return self.flows.packets

    @cached_property
    def dns(self) -> DnsNames:
        """Every DNS answer in the capture, as names per address."""
        return collect_names(self.flows.flows.values())

    def dns_names_of(self, address: str) -> tuple[str, ...]:
        return self.dns.names_of(address)

    def names_of(self, address: str) -> tuple[str, ...]:
        """The names the capture gives an address: DNS answers, and the TLS SNI and HTTP Host of every
        flow opened to it. A netmap matches them only where no address mapping does."""
        names = self._server_names.get(address)
        if names is None:
            from harness.net.payloads import describe  # payload decoding is only needed for names

            found = set(self.dns_names_of(address))
            for flow in self._flows_to.get(address, ()):
                found |= describe(flow).names
            names = self._server_names[address] = tuple(sorted(found))
        return names

    @cached_property
    def _flows_to(self) -> dict[str, list[Flow]]:
        by_server: dict[str, list[Flow]] = {}
        for flow in self.flows.flows.values():
            by_server.setdefault(flow.server.address, []).append(flow)
        return by_server

    def completeness_problems(self) -> list[str]:
        """What makes the capture an incomplete record: each one keeps a verdict from `pass`."""
        problems = []
        if self.info.truncated:
            problems.append(f"capture file is truncated{': ' + self.info.problem if self.info.problem else ''}")
        if not self._ip_drops_reported():
            if self.info.rig_capture:  # the rig always records dumpcap's counters: here it could not
                problems.append("the capturer reported no drop counters, so the capture's completeness is unknown")
        elif self.info.dropped:
            problems.append(f"capturer dropped {self.info.dropped} packets")
        table = self.flows
        if table.unsupported:
            kinds = ", ".join(f"{n} of link type {t}" for t, n in sorted(table.unsupported.items()))
            problems.append(f"packets on interfaces this harness cannot read ({kinds})")
        if table.malformed:
            problems.append(f"{table.malformed} packets could not be parsed (truncated or malformed headers)")
        if table.fragments:
            problems.append(f"{table.fragments} IP fragments were not reassembled")
        if self.keylog_problem:
            # a key log that was meant to be whole and is not: the sessions it leaves shut may carry anything
            locked = _locked_tls_sessions(self.flows.flows.values())
            if locked:
                problems.append(f"{locked} TLS session{'s' if locked > 1 else ''} with application data "
                                f"cannot be decrypted: {self.keylog_problem}")
        back = self.clock.jumps_back()
        if back:
            first = back[0]
            problems.append(f"the vehicle clock went back {len(back)} time{'s' if len(back) > 1 else ''} "
                            f"(first by {first[1]:.1f} s), so vehicle time between events cannot be measured")
        return problems

    def _ip_drops_reported(self) -> bool:
        """Drop counters cover the interfaces that carry IP; a counter on the CAN interface alone does not."""
        ip = {lt for lt, _ in self.info.interfaces if lt != LINKTYPE_CAN_SOCKETCAN}
        return self.info.drops_reported_for(ip) if ip else self.info.drop_reported

    def completeness_notes(self) -> list[str]:
        """What limits the evidence without lowering a verdict (a capture from another tool)."""
        if not self._ip_drops_reported() and not self.info.rig_capture:
            return ["the capture holds no drop counters (not taken by this harness's rig); it is judged on the "
                    "packets it holds"]
        return []

    @cached_property
    def clock(self) -> VehicleTime:
        return VehicleTime(self.can)

    def vehicle_time(self, wall: float) -> float | None:
        """Vehicle time at a capture timestamp, interpolated between the clock frames on CAN."""
        return self.clock.at(wall)

    def vehicle_seconds(self, earlier: float, later: float) -> float:
        """Vehicle-time seconds between two capture timestamps (wall seconds without a clock)."""
        return self.clock.seconds(earlier, later)

    def can_series(self, message: str) -> list[CanRecord]:
        return [r for r in self.can if r.message == message]


def load_evidence(path: Path, codec: VehicleCodec | None, keys: KeyLog | None = None,
                  truth: GroundTruth | None = None, unit_keys: UnitKeys | None = None,
                  keylog_problem: str | None = None) -> Evidence:
    """The evidence in a capture; `keys` (an NSS key log) lets the decoders read TLS application data,
    `unit_keys` (the GB/T 32960 platform's) its encrypted data units, `truth` (with the track the
    capture's CAN shows) lets them recognise data whatever its encoding."""
    info = CaptureInfo()
    table = FlowTable(keys=keys, unit_keys=unit_keys)
    records: list[CanRecord] = []
    frames = 0
    last_counter: dict[str, int] = {}
    gaps: dict[str, int] = {}
    errors: list[CanError] = []
    cycles = {m.name: (m.cycle_time or 0) / 1000.0 for m in codec.ecu_messages()} if codec is not None else {}
    activity: dict[str, EcuActivity] = {}

    def can_frame(time: float, linktype: int, raw: bytes) -> None:
        nonlocal frames
        if linktype != LINKTYPE_CAN_SOCKETCAN:
            table.unsupported[linktype] = table.unsupported.get(linktype, 0) + 1
            return
        frames += 1
        parsed = parse_socketcan(raw)
        if parsed is not None and parsed[3]:
            errors.append(CanError(time, parsed[0], parsed[1]))
            return
        if parsed is None or codec is None:
            return
        arbitration_id, data, _extended, error = parsed
        decoded = None if error else codec.decode(arbitration_id, data)
        if decoded is None:
            return
        name, values = decoded
        records.append(CanRecord(time, name, arbitration_id, values, bytes(data)))
        if name in cycles:
            seen = activity.get(name)
            activity[name] = EcuActivity(seen.first if seen else time, time, (seen.frames if seen else 0) + 1,
                                         cycles[name])
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

    table.add_frames(iter_records(path, info), other=can_frame)
    track = track_from_can(records)
    if truth is not None or len(track):
        table.recognition.truth = (truth or GroundTruth()).with_track(track)
    return Evidence(path, table, records, info, frames, gaps, can_errors=errors, ecu_expected=tuple(sorted(cycles)),
                    ecu_activity=activity, keylog_problem=keylog_problem)


# the files a run keeps beside a capture that change how it is read, by their names in a test's
# evidence record: the vehicle's TLS secrets, why they may be missing, the GB/T 32960 platform's key
READ_WITH = ("keylog", "keylog_problem", "gbt32960_key")


def load_evidence_with(capture: Path, codec: VehicleCodec | None, files: Mapping[str, Path],
                       truth: GroundTruth | None = None) -> Evidence:
    """The evidence in a capture read with the files kept beside it (`files`, keyed as READ_WITH),
    the same way in a live run and on replay."""
    keylog, problem, unit_key = (files.get(name) for name in READ_WITH)
    return load_evidence(capture, codec, readable_keylog(keylog) if keylog else None, truth,
                         unit_keys=readable_unit_key(unit_key) if unit_key else None,
                         keylog_problem=recorded_problem(problem) if problem else None)


def _locked_tls_sessions(flows: Iterable[Flow]) -> int:
    """TLS sessions in the capture that carry application data the key log holds no secret for."""
    locked = 0
    for flow in flows:
        if flow.protocol != TCP or not looks_like_tls(flow.to_server.stream()[0]):
            continue
        session = tls_session(flow)  # read once per flow, shared with the decoders
        if (session.data_records(True) or session.data_records(False)) and session.secrets() is None:
            locked += 1
    return locked
