"""A rig brought up for a run: namespaces, simulated cloud, the harness's side of the CAN bus,
the vehicle clock; and per test, a capture and a fresh vECU.

This is the one narrow interface the suites reach the system under test through."""

from __future__ import annotations

import os
import shutil
import ssl
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import can

from harness.can.bus import open_bus
from harness.can.codec import VehicleCodec
from harness.can.cyclic import CyclicTransmitter
from harness.can.monitor import SignalMonitor
from harness.can.recorder import CanRecorder, write_candump
from harness.errors import RigError
from harness.net.capture import CaptureStats, DumpcapCapture
from harness.net.gbt32960_crypto import UnitKeys, write_unit_key
from harness.net.pcapfile import merge, read_capture
from harness.rig.bench import BenchEcu, BenchRig
from harness.rig.config import Endpoint, Rig
from harness.rig.keylog_source import KeylogFetcher
from harness.rig.platform_encryption import KEY_ENV, platform_keys
from harness.rig.vecu_process import VecuProcess
from harness.rig.virtual import DNS_PORT, SINK_PORT, VirtualRig
from harness.scenarios.broker import MosquittoBroker
from harness.scenarios.campaign import public_key_pem
from harness.scenarios.clock import VehicleClock
from harness.scenarios.cloud import Gbt32960Platform, Received
from harness.scenarios.collector import HttpCollector
from harness.scenarios.dns_server import RigResolver, dns_server
from harness.scenarios.log import ScenarioLog
from harness.scenarios.ota_backend import BackendState, OtaBackend, OtaBackendServer
from harness.scenarios.rig_ca import RigCa
from harness.scenarios.servers import ThreadedServers
from harness.scenarios.sink import TcpSink, UdpSink
from harness.vecu.tls import KEYLOG_ENV, TLS_DIR_ENV

CAPTURE_SETTLE_S = 0.35
BROKERS = ("mqtt", "mqtt_overseas")  # endpoints Mosquitto serves (the TSP's, and one abroad a seeded defect uses)
KEYLOG_NAME = "keylog.txt"  # the vehicle's NSS key log in a test's evidence: secret material
KEYLOG_PROBLEM_NAME = "keylog-problem.txt"  # one line: why a bench's key log for the test may lack secrets


@dataclass(frozen=True)
class ObservationResult:
    capture: Path
    can_log: Path
    scenario_log: Path
    stats: CaptureStats
    can_frames: int
    keylog: Path | None = None  # the vehicle's TLS secrets, where it wrote any
    keylog_problem: Path | None = None  # why they may be missing (a bench's fetch failed, a garbled log)
    unit_key: Path | None = None  # the GB/T 32960 platform's key, where it wants encrypted data units


class Observation:
    """One test's evidence: Ethernet at the mirror point and every CAN frame, on one timeline."""

    def __init__(self, session: RigSession, directory: Path) -> None:
        self.session, self.directory = session, directory
        directory.mkdir(parents=True, exist_ok=True)
        self._raw = directory / "ethernet.pcapng"
        self._dumpcap = DumpcapCapture(session.rig.capture.interface, self._raw,
                                       session.virtual.namespaces.cloud if session.virtual else None)
        self._since = 0.0
        self.result: ObservationResult | None = None

    def start(self) -> None:
        self.session.scenario.clear()
        if self.session.keylog is not None:
            self.session.keylog.begin()  # before the capture: every session it holds logs its keys after this
        self._since = time.time()
        self._dumpcap.start()

    def stop(self) -> ObservationResult:
        if self.result is not None:
            return self.result
        # libpcap hands dumpcap its packets in blocks retired every 250 ms; a stop before the last
        # block retires loses those packets without counting them as dropped
        time.sleep(CAPTURE_SETTLE_S)
        stats = self._dumpcap.stop()
        self.session.note_bus_state()
        frames = self.session.recorder.frames(since=self._since)
        capture = self.directory / "capture.pcapng"
        try:
            packets, _ = read_capture(self._raw)
        except Exception:  # noqa: BLE001 - an unreadable raw capture is reported as incomplete below
            packets = []
            stats = CaptureStats(stats.received, stats.dropped, reported=False,
                                 message="dumpcap's capture file is unreadable")
        merge(packets, self.session.rig.capture.interface,
              [(f.timestamp, _socketcan(f.arbitration_id, f.data, f.is_extended_id, f.is_error_frame))
               for f in frames],
              self.session.rig.can.channel, capture,
              stats=(stats.received, stats.dropped) if stats.reported else None)
        self._raw.unlink(missing_ok=True)
        can_log = self.directory / "can.log"
        write_candump(frames, can_log)
        scenario_log = self.directory / "scenario.jsonl"
        self.session.scenario.write(scenario_log)
        keylog = self.directory / KEYLOG_NAME
        problem = self._fetch_keylog(keylog)
        self.result = ObservationResult(capture, can_log, scenario_log, stats, len(frames),
                                        keylog if keylog.is_file() else None, problem,
                                        unit_key=self._copy_unit_key())
        return self.result

    def _copy_unit_key(self) -> Path | None:
        """The platform's key beside the capture (secret material), so replay opens what the run opened."""
        source = self.session.unit_key
        if source is None:
            return None
        target = self.directory / self.session.rig.gbt32960.evidence_name
        shutil.copyfile(source, target)
        target.chmod(0o600)
        return target

    def _fetch_keylog(self, keylog: Path) -> Path | None:
        """A bench's key log for this test, where the virtual ECU writes its own; a problem with it beside."""
        if self.session.keylog is None:
            return None
        fetched = self.session.keylog.fetch()
        if fetched.text:
            keylog.write_text(fetched.text, encoding="ascii", errors="replace")
        if fetched.problem is None:
            return None
        problem = self.directory / KEYLOG_PROBLEM_NAME
        problem.write_text(fetched.problem + "\n", encoding="utf-8")
        return problem

    def abort(self) -> None:
        self._dumpcap.kill()


def _socketcan(arbitration_id: int, data: bytes, extended: bool, error: bool = False) -> bytes:
    from harness.net.pcapfile import socketcan_frame

    return socketcan_frame(arbitration_id, data, extended, error)


class RigSession:
    def __init__(self, rig: Rig, evidence_dir: Path) -> None:
        assert rig.can.mapping is not None
        self.rig = rig
        self.evidence_dir = evidence_dir
        self.codec = VehicleCodec.load(rig.can.dbc, rig.can.mapping)
        self.clock = VehicleClock(rig.time_scale)
        self.scenario = ScenarioLog(self.clock)
        self.virtual: VirtualRig | None = VirtualRig(rig) if rig.is_virtual else None
        self.bench: BenchRig | None = None if rig.is_virtual else BenchRig(rig)
        self.keylog = KeylogFetcher(rig.keylog) if self.bench is not None and rig.keylog is not None else None
        self.servers: ThreadedServers | None = None
        self.ca: RigCa | None = None
        self._vehicle_tls: Path | None = None
        self.broker: MosquittoBroker | None = None
        self._ca_dir: Path | None = None
        # the GB/T 32960 platform's key: the rig's file, or one made per run on the virtual rig
        self.unit_key: Path | None = rig.gbt32960.key
        self.unit_keys: UnitKeys | None = platform_keys(rig.gbt32960)
        self.backend_state = BackendState()
        self.backend = OtaBackend(self.backend_state)
        self.received = Received()
        self.monitor = SignalMonitor(self.codec)
        self.recorder = CanRecorder()
        self._buses: list[can.BusABC] = []
        self._notifiers: list[can.Notifier] = []
        self.tx: CyclicTransmitter | None = None
        self.can_sender: can.BusABC | None = None
        self.can_notifier: can.Notifier | None = None
        # parallel workers (pytest-xdist) each sign with their own key: one anchor file each
        worker = os.environ.get("PYTEST_XDIST_WORKER", "")
        self.trust_anchor = evidence_dir / f"ota-trust-anchor{'-' + worker if worker else ''}.pem"

    # -- lifetime --------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.close()
            raise

    def _start(self) -> None:
        if self.bench is not None:
            # a bench's CAN channel and NIC may come from a labgrid place acquired now
            self.rig = self.bench.up()
            self._start_can(None)
            if self.keylog is not None:
                self.keylog.prime()
            return
        assert self.virtual is not None and self.rig.vecu is not None
        self.virtual.up()
        ns = self.virtual.namespaces
        self.servers = ThreadedServers(ns.cloud)
        self._ca_dir = Path(tempfile.mkdtemp(prefix="harness-rig-ca-"))
        self.ca = RigCa(self._ca_dir)
        if self.rig.gbt32960.wanted and self.unit_key is None:  # made per run, kept beside the CA
            self.unit_key = write_unit_key(self._ca_dir / self.rig.gbt32960.evidence_name,
                                           self.rig.gbt32960.encryption)
            self.unit_keys = platform_keys(self.rig.gbt32960, self.unit_key)
        self.servers.start(partial(TcpSink, SINK_PORT, self.ca), "catch-all sink (TCP)")
        self.servers.start(partial(UdpSink, SINK_PORT), "catch-all sink (UDP)")
        self._start_resolver()
        endpoints = self.rig.vecu.endpoints
        for key in ("gbt32960", "gbt32960_mirror"):
            if key in endpoints:
                e = endpoints[key]
                self.servers.start(partial(Gbt32960Platform, (e.host, e.port), self.received, self.unit_keys), key)
        self._vehicle_tls = self.ca.vehicle_material(self.rig.vecu.vin)
        self.broker = MosquittoBroker(ns.cloud, [endpoints[k] for k in BROKERS if k in endpoints], self.ca,
                                      self._ca_dir / "broker")
        self.broker.start()
        self.servers.adopt(self.broker.close)
        ota = endpoints["ota"]
        self.servers.start(partial(OtaBackendServer, (ota.host, ota.port), self.backend_state, self._server_tls(ota)),
                           "ota")
        for key, e in endpoints.items():  # every other endpoint is a service taking JSON uploads
            if key not in ("gbt32960", "gbt32960_mirror", "ota", *BROKERS):
                self.servers.start(partial(HttpCollector, (e.host, e.port), self._server_tls(e)), key)
        self.evidence_dir.mkdir(parents=True, exist_ok=True)
        self.trust_anchor.write_bytes(public_key_pem(self.backend_state.signer))
        self._start_can(ns.can)

    def _server_tls(self, endpoint: Endpoint) -> ssl.SSLContext | None:
        """A certificate for the name the vehicle dials; the vehicle's own where the endpoint asks for it."""
        if not endpoint.tls:
            return None
        assert self.ca is not None
        return self.ca.server_context(endpoint.dial, require_client=endpoint.mutual)

    def _start_resolver(self) -> None:
        vecu = self.rig.vecu
        assert vecu is not None and self.servers is not None
        if vecu.resolver is None:
            return
        listed = [*vecu.endpoints.values(), *vecu.unserved.values()]
        resolver = RigResolver({e.name: e.host for e in listed if e.name}, self.rig.netmap,
                               [e.host for e in listed] + [vecu.resolver, vecu.address, vecu.gateway]
                               + [a for a in (vecu.address6, vecu.gateway6) if a is not None])
        for tcp in (False, True):
            self.servers.start(partial(dns_server, resolver, vecu.resolver, DNS_PORT, tcp),
                               f"resolver ({'TCP' if tcp else 'UDP'})")

    def _start_can(self, namespace: str | None) -> None:
        """The harness's side of the bus: the rest of the vehicle, the recorder and the monitor."""
        sender = open_bus(self.rig.can, namespace)
        tap = open_bus(self.rig.can, namespace)  # a separate socket, like a logger on the wire
        self._buses += [sender, tap]
        self._notifiers.append(can.Notifier(tap, [self.recorder, self.monitor]))
        self.can_sender, self.can_notifier = sender, self._notifiers[-1]  # a diagnostic tester joins these
        self.tx = CyclicTransmitter(sender, self.codec, self.codec.simulated_messages())
        self.tx.provide("time.vehicle_ms", self.clock.now_ms)
        self.clock.on_jump(partial(self.tx.send_now, self.codec.ref("time.vehicle_ms").message))
        self.tx.start()

    def close(self) -> None:
        if self.tx is not None:
            self.tx.stop()
        for notifier in self._notifiers:
            notifier.stop()
        for bus in self._buses:
            bus.shutdown()
        self._notifiers.clear()
        self._buses.clear()
        if self.servers is not None:
            self.servers.close()
        if self.broker is not None:
            self.broker.close()
        if self.virtual is not None:
            self.virtual.down()
        if self._ca_dir is not None:
            shutil.rmtree(self._ca_dir, ignore_errors=True)
        if self.bench is not None:
            self.bench.down()

    def note_bus_state(self) -> None:
        """Interfaces that report error-passive or bus-off as a state (not as error frames) get it
        into the recording this way."""
        for bus in self._buses:
            try:
                self.recorder.note_state(bus.state)
            except NotImplementedError:
                pass

    # -- per test ----------------------------------------------------------------------------
    def observe(self, directory: Path) -> Observation:
        return Observation(self, directory)

    def vecu(self, defects: tuple[str, ...], log_path: Path) -> VecuProcess | BenchEcu:
        if self.bench is not None:
            status = self.codec.ref("ota.status.state").message
            return BenchEcu(self.bench, defects, log_path, lambda: self.monitor.last_seen(status),
                            self.rig.timeouts.ecu_alive_s)
        assert self.virtual is not None
        ns = self.virtual.namespaces
        state = log_path.parent / "vecu-state"
        shutil.rmtree(state, ignore_errors=True)  # a fresh ECU starts from factory state
        # its TLS material from the rig CA (kept out of the evidence), its key log into the test's evidence
        env = {KEYLOG_ENV: str(log_path.parent / KEYLOG_NAME)}
        if self._vehicle_tls is not None:
            env[TLS_DIR_ENV] = str(self._vehicle_tls)
        if self.unit_key is not None:  # the key it seals GB/T 32960 data units with
            env[KEY_ENV] = str(self.unit_key)
        return VecuProcess(self.rig.path, ns.vehicle, ns.can, defects, self.trust_anchor, log_path, state_dir=state,
                           env=env)

    def wait_ecu_alive(self, timeout: float | None = None) -> None:
        """The ECU counts as up once its status message is on the bus."""
        timeout = self.rig.timeouts.ecu_alive_s if timeout is None else timeout
        message = self.codec.ref("ota.status.state").message
        if not self.monitor.wait_message(message, timeout, after=time.time() - 0.5):
            raise RigError(f"the ECU sent no {message} on CAN within {timeout:.0f} s")
