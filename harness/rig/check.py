"""`harness rig check`: what of a rig is reachable and configured before a run, one row per part
(rig file, DBC and mapping, labgrid place, CAN interface and traffic, capture point, DoIP entity,
TLS key log), each problem with its fix.

Passive unless asked: on a bench it only listens on CAN (`active` adds the harness's rest-of-vehicle
frames for ECUs that stay silent without them); the virtual rig is brought up with a vECU to be checked."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import can

from harness.can.bus import open_bus
from harness.can.bus_errors import CanError
from harness.can.codec import VehicleCodec
from harness.can.cyclic import CyclicTransmitter
from harness.can.mapping import load_mapping
from harness.can.recorder import CanFrame, CanRecorder
from harness.errors import HarnessError
from harness.net.capture import DumpcapCapture
from harness.rig.bench import BenchRig
from harness.rig.config import Rig, load_rig
from harness.rig.doip_probe import identify, not_on_link
from harness.rig.keylog_source import KeylogFetcher
from harness.rig.netns import entered


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "FAIL"
    SKIP = "skip"


@dataclass(frozen=True)
class Row:
    item: str
    status: Status
    detail: str
    fix: str = ""


@dataclass
class RigReport:
    rig: str
    rows: list[Row] = field(default_factory=list)
    loaded: bool = True

    @property
    def ready(self) -> bool:
        return self.loaded and all(row.status is not Status.FAIL for row in self.rows)

    def add(self, item: str, status: Status, detail: str, fix: str = "") -> None:
        self.rows.append(Row(item, status, detail, fix))


def check_rig(path: Path, active: bool = False) -> RigReport:
    report = RigReport(str(path))
    try:
        rig = load_rig(path)
    except HarnessError as exc:
        report.loaded = False
        report.add("rig file", Status.FAIL, str(exc), "correct the key the message names")
        return report
    report.rig = str(rig.path)
    report.add("rig file", Status.OK, f"{rig.name} ({rig.kind})")
    codec = _codec(rig, report)
    if rig.is_virtual:
        _check_virtual(rig, codec, report)
        return report
    bench = BenchRig(rig)
    try:
        resolved = _acquire(bench, report)
        if resolved is not None:
            _check_can(resolved, codec, report, active)
            _check_capture(resolved, None, report)
            _check_doip(resolved, report)
            _check_keylog(resolved, report)
    finally:
        bench.down()
    return report


def _codec(rig: Rig, report: RigReport) -> VehicleCodec | None:
    assert rig.can.mapping is not None
    try:
        codec = VehicleCodec.load(rig.can.dbc, rig.can.mapping)
    except HarnessError as exc:
        report.add("DBC and mapping", Status.FAIL, str(exc), "fix the DBC or the mapping entry the message names")
        return None
    missing = load_mapping(rig.can.mapping, codec.db).missing()
    if missing:
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        report.add("DBC and mapping", Status.FAIL, f"{len(missing)} harness signals have no DBC signal: {shown}",
                   f"map them in [signals] of {rig.can.mapping}; suites that use them cannot run")
        return codec
    report.add("DBC and mapping", Status.OK, f"{len(codec.db.messages)} messages; all {len(codec.signals)} harness "
               f"signals mapped; ECU node {codec.ecu_node} sends {len(codec.ecu_messages())} cyclic messages")
    return codec


def _acquire(bench: BenchRig, report: RigReport) -> Rig | None:
    place = bench.place
    if place is None:
        return bench.rig
    try:
        rig = bench.up()
    except HarnessError as exc:
        report.add("labgrid place", Status.FAIL, str(exc),
                   "check the coordinator address, the place name and that nobody else holds it")
        return None
    parts = [f"CAN channel {rig.can.channel}" if place.config.can else "",
             f"NIC {rig.capture.interface}" if place.config.network else "",
             f"power switch {place.config.power}" if place.config.power else ""]
    report.add("labgrid place", Status.OK, f"{place.config.place} acquired from {place.config.coordinator}: "
               + ", ".join(p for p in parts if p) + "; released after the check")
    remote = place.remote_hosts()
    if remote:
        report.add("labgrid exporter", Status.WARN, f"the place's interfaces are on {', '.join(remote)}, not here",
                   "run the harness on the exporter's host: it opens the CAN channel and the NIC itself")
    if place.has_power:
        state = place.power_state()
        report.add("power switch", Status.OK if state else Status.WARN,
                   "on" if state else "state unknown" if state is None else "off",
                   "" if state else "the ECU must be powered for the suites: check the switch")
    return rig


def _expected(rig: Rig, codec: VehicleCodec | None) -> list[str]:
    if rig.can.expect:
        return list(rig.can.expect)
    return [m.name for m in codec.ecu_messages()] if codec is not None else []


def _check_can(rig: Rig, codec: VehicleCodec | None, report: RigReport, active: bool) -> None:
    where = f"{rig.can.interface} channel {rig.can.channel}"
    try:
        bus = open_bus(rig.can)
    except HarnessError as exc:
        report.add("CAN interface", Status.FAIL, str(exc),
                   "check [can] interface and channel (the driver's name for the adapter, e.g. can0, PCAN_USBBUS1, "
                   "0 for Vector) and that the adapter is plugged in")
        return
    recorder = CanRecorder()
    notifier = can.Notifier(bus, [recorder])
    sender: CyclicTransmitter | None = None
    try:
        report.add("CAN interface", Status.OK, f"{where} opened at {rig.can.bitrate} bit/s"
                   + (f", FD data phase {rig.can.data_bitrate} bit/s" if rig.can.fd else ""))
        if codec is None:
            report.add("CAN traffic", Status.SKIP, "not checked: which messages to expect comes from the DBC")
            return
        since = time.time()
        if active:
            sender = CyclicTransmitter(bus, codec, codec.simulated_messages())
            sender.start()
        _judge_traffic(report, codec, _expected(rig, codec), recorder.frames, since, rig.timeouts.can_traffic_s,
                       active, lambda: recorder.note_state(bus.state))
    finally:
        if sender is not None:
            sender.stop()
        notifier.stop()
        bus.shutdown()


def _judge_traffic(report: RigReport, codec: VehicleCodec | None, expected: list[str],
                   frames_since: Callable[[float], list[CanFrame]], since: float, timeout: float, active: bool,
                   note_state: Callable[[], None]) -> None:
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while True:
        frames = frames_since(since)
        seen = _names(codec, frames)
        if set(expected) <= seen and frames or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    note_state()
    frames = frames_since(since)
    errors = [CanError(f.timestamp, f.arbitration_id, f.data) for f in frames if f.is_error_frame]
    if any(e.bus_off for e in errors):
        report.add("CAN bus state", Status.FAIL, "bus-off: the controller stopped taking part in the bus",
                   "check bitrate (and FD data bitrate), termination (60 ohm between CAN-H and CAN-L) and wiring")
    elif errors:
        report.add("CAN bus state", Status.WARN, f"{len(errors)} error frames ({errors[0].describe()})",
                   "check bitrate, termination and wiring: error frames lose frames")
    else:
        report.add("CAN bus state", Status.OK, "no error frames, not error-passive or bus-off")
    data = [f for f in frames if not f.is_error_frame]
    how = "" if active else " (listening only; --active sends the rest of the vehicle's frames)"
    if not data:
        report.add("CAN traffic", Status.FAIL, f"no frame within {timeout:g} s{how}",
                   "check the ECU's power and the bus wiring; an ECU that waits for the rest of the vehicle needs "
                   "`rig check --active`; a slow one a longer [timeouts] can_traffic_s")
        return
    missing = [name for name in expected if name not in seen]
    if missing:
        report.add("CAN traffic", Status.FAIL, f"{len(data)} frames, but not {', '.join(missing[:5])} within "
                   f"{timeout:g} s{how}", "the ECU does not send what the DBC says it sends: check [nodes] ecu in "
                   "the mapping, the DBC version, or list what to wait for in [can] expect")
        return
    report.add("CAN traffic", Status.OK, f"{len(data)} frames in {time.time() - since:.1f} s; expected messages "
               f"seen: {', '.join(expected[:5])}{', ...' if len(expected) > 5 else ''}")


def _names(codec: VehicleCodec | None, frames: list[CanFrame]) -> set[str]:
    if codec is None:
        return set()
    names = set()
    for frame in frames:
        if not frame.is_error_frame:
            decoded = codec.decode(frame.arbitration_id, frame.data)
            if decoded is not None:
                names.add(decoded[0])
    return names


def _interface_exists(name: str, namespace: str | None) -> bool:
    if namespace is None:
        return (Path("/sys/class/net") / name).exists()
    done = subprocess.run(["ip", "-n", namespace, "link", "show", name], capture_output=True, check=False)
    return done.returncode == 0


def _check_capture(rig: Rig, namespace: str | None, report: RigReport) -> None:
    name = rig.capture.interface
    if not _interface_exists(name, namespace):
        report.add("capture interface", Status.FAIL, f"no network interface {name!r} on this machine",
                   "name the NIC on the switch's mirror port in [capture] interface (`ip link` lists them)")
        return
    if shutil.which("dumpcap") is None:
        report.add("capture interface", Status.FAIL, f"{name} exists, but dumpcap is not installed",
                   "apt-get install tshark (scripts/bootstrap does it)")
        return
    timeout = rig.timeouts.capture_s
    with tempfile.TemporaryDirectory(prefix="rig-check-") as tmp:
        capture = DumpcapCapture(name, Path(tmp) / "probe.pcapng", namespace)
        try:
            capture.start()
        except HarnessError as exc:
            report.add("capture interface", Status.FAIL, str(exc), "dumpcap needs root or CAP_NET_RAW on the NIC")
            return
        time.sleep(timeout)
        stats = capture.stop()
    if not stats.reported:
        report.add("capture interface", Status.FAIL, f"{name}: {stats.message}", "run dumpcap -i NIC by hand")
    elif stats.received == 0:
        report.add("capture interface", Status.FAIL, f"{name} saw no packet in {timeout:g} s",
                   "connect the NIC to the switch's mirror (SPAN) port and check that the port mirrors the ECU's "
                   "uplink; the ECU must be on its network")
    else:
        report.add("capture interface", Status.OK, f"{name}: {stats.received} packets in {timeout:g} s, "
                   f"{stats.dropped} dropped")


def _check_doip(rig: Rig, report: RigReport, namespace: str | None = None) -> None:
    config = rig.doip
    if config is None:
        report.add("DoIP entity", Status.SKIP, "not configured ([doip] address)")
        return
    where = f"{config.address}:{config.port}"
    off_link = not_on_link(config.address, namespace)
    if off_link is not None:
        report.add("DoIP entity", Status.FAIL, f"not probed: {off_link}",
                   "the tester and the ECU share a link (ISO 13400): set [doip] address to the ECU's address on "
                   "the bench network")
        return
    with entered(namespace) if namespace else nullcontext():  # the virtual rig's tester side is the cloud
        answer = identify(config, rig.timeouts.doip_s)
    if answer is None:
        report.add("DoIP entity", Status.FAIL, f"no vehicle identification answer from {where} within "
                   f"{rig.timeouts.doip_s:g} s", "check [doip] address and port, the ECU's power and its Ethernet link")
    elif answer.logical_address != config.logical_address:
        report.add("DoIP entity", Status.FAIL, f"{where} answers with logical address {answer.logical_address:#06x}, "
                   f"the rig says {config.logical_address:#06x}",
                   f"set [doip] logical_address = {answer.logical_address:#06x} if that is the ECU under test")
    else:
        report.add("DoIP entity", Status.OK,
                   f"{where}: VIN {answer.vin}, logical address {answer.logical_address:#06x}")


def _check_keylog(rig: Rig, report: RigReport) -> None:
    """Whether the ECU's TLS secrets can be had now: without them its TLS flows judge `inconclusive`."""
    source = rig.keylog
    if source is None:
        report.add("TLS key log", Status.WARN, "none configured: the ECU's TLS flows will be inconclusive",
                   "name the NSS key log the ECU writes in [tls] keylog, or a command printing it in "
                   "[tls] keylog_command")
        return
    got = KeylogFetcher(source).probe()
    kind = "file" if source.path is not None else "command"
    if not got.read:
        report.add("TLS key log", Status.FAIL, got.problem or source.describe(),
                   f"check the {kind} in [tls]; the ECU (an engineering build) writes its key log where "
                   "SSLKEYLOGFILE points")
    elif not got.secrets and got.lines:
        report.add("TLS key log", Status.FAIL, got.problem or source.describe(),
                   f"the {kind} must give the ECU's NSS key log as SSLKEYLOGFILE writes it, one secret a line")
    elif not got.secrets:
        report.add("TLS key log", Status.WARN, f"{source.describe()} holds no line yet",
                   "the ECU writes a line per TLS session it opens: let it connect once, then check again")
    else:
        readable = "readable" if kind == "file" else "ran"
        report.add("TLS key log", Status.OK if got.problem is None else Status.WARN,
                   f"{source.describe()} {readable}: {got.secrets} TLS secret{'s' if got.secrets != 1 else ''} in "
                   f"{got.lines} line{'s' if got.lines != 1 else ''}", got.problem or "")


def _check_virtual(rig: Rig, codec: VehicleCodec | None, report: RigReport) -> None:
    """Bring the virtual rig up with a compliant vECU and check it as a bench would be checked."""
    from harness.rig.session import RigSession  # the session pulls in the simulated cloud

    if codec is None:
        return
    with tempfile.TemporaryDirectory(prefix="rig-check-") as tmp:
        session = RigSession(rig, Path(tmp) / "evidence")
        try:
            session.start()
        except HarnessError as exc:
            report.add("virtual rig", Status.FAIL, str(exc), "the virtual rig needs root, iproute2 and dumpcap")
            return
        try:
            assert session.virtual is not None
            ns = session.virtual.namespaces
            report.add("virtual rig", Status.OK, "namespaces, simulated cloud and the rest of the vehicle up")
            report.add("CAN interface", Status.OK, f"{rig.can.interface} {rig.can.channel} in namespace {ns.can}")
            since = time.time()
            process = session.vecu((), Path(tmp) / "vecu.log")
            try:
                process.start()
                report.add("vECU", Status.OK, f"started in namespace {ns.vehicle}")
                _judge_traffic(report, codec, _expected(rig, codec), session.recorder.frames, since,
                               rig.timeouts.can_traffic_s, True, session.note_bus_state)
                _check_capture(rig, ns.cloud, report)
                _check_doip(rig, report, ns.cloud)
            except HarnessError as exc:
                report.add("vECU", Status.FAIL, str(exc), "the vECU's log says why it did not start")
            finally:
                process.stop()
        finally:
            session.close()
