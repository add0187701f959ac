"""The reference virtual ECU: a telematics and OTA master that reads the vehicle from CAN and
talks to the cloud over IP, in a process of its own.

It keeps vehicle time from the GlobalTimeSync frames it receives, so a virtual rig can run it
faster than the wall clock."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import can

from harness.can.bus import open_bus
from harness.can.codec import VehicleCodec
from harness.can.cyclic import CyclicTransmitter
from harness.can.monitor import SignalMonitor
from harness.rig.config import Rig
from harness.vecu.announce import Announcer
from harness.vecu.diagnostics import Diagnostics
from harness.vecu.ota_client import OtaClient
from harness.vecu.ota_store import OtaStore
from harness.vecu.privacy import OwnerSwitches, declared_precision
from harness.vecu.services import build_services
from harness.vecu.telematics import Gbt32960Reporter, MqttTelemetry, own_key_seal, platform_seal

TICK_S = 0.005
UPLINK_JOIN_S = 3.0  # an upload in flight may finish; the rig stops a vECU that takes 5 s
NOTICE_PAGES = 3


class VirtualEcu:
    def __init__(self, rig: Rig, defects: frozenset[str], can_namespace: str | None,
                 trust_anchor: Path | None, state_dir: Path | None = None) -> None:
        assert rig.vecu is not None and rig.can.mapping is not None
        self.rig, self.config, self.defects = rig, rig.vecu, defects
        self.codec = VehicleCodec.load(rig.can.dbc, rig.can.mapping)
        self.bus = open_bus(rig.can, can_namespace)
        self.inputs = SignalMonitor(self.codec)
        # a tick on every clock frame (a jump of vehicle time is acted on at once) and owner action
        self._asked = threading.Event()
        asking = {self.codec.message(self.codec.ref(name).message).frame_id
                  for name in ("time.vehicle_ms", "ota.action.action")}

        def tick(msg: can.Message) -> None:
            if msg.arbitration_id in asking:
                self._asked.set()

        self.notifier = can.Notifier(self.bus, [self.inputs, tick])
        self.ota = OtaClient(self.config.endpoints["ota"], self.config.vin, self.config.software_version,
                             trust_anchor.read_bytes() if trust_anchor else None, defects, OtaStore(state_dir))
        # the OTA client's messages go out from this loop, cyclic and on change; the rest periodically
        self.announce = Announcer(self.bus, self.codec, self.ota.outputs(),
                                  {self.codec.ref("ota.notice.page").message: ("ota.notice.page", NOTICE_PAGES)})
        # a tick asked for by a frame is answered with these: the harness waits for the status after
        # its clock frame instead of guessing how long a tick takes, and finds the drive inhibit beside it
        self.answer = [self.codec.ref(name).message for name in ("ota.inhibit.request", "ota.status.state")]
        self.tx = CyclicTransmitter(self.bus, self.codec, [m for m in self.codec.ecu_messages()
                                                           if m.name not in self.announce.messages])
        self.diagnostics = Diagnostics(rig, self.codec, self.bus, self.notifier, lambda: self.ota.software_id,
                                       self.inputs.snapshot, defects)
        endpoints = self.config.endpoints
        self.switches = switches = OwnerSwitches(self.inputs.value, self.vehicle_time, defects)
        own_key = "gbt32960-mirror-own-key" in defects
        mirror = endpoints["gbt32960_mirror"] if own_key or "location-to-overseas" in defects else None
        self.reporter = Gbt32960Reporter(endpoints["gbt32960"], self.config.vin, self.config.iccid,
                                         self.config.report_period_s, switches=switches, mirror=mirror,
                                         custom_units="gbt32960-custom-units" in defects,
                                         phone=rig.owner.phone or "", seal=platform_seal(rig.gbt32960),
                                         mirror_seal=own_key_seal() if own_key else None)
        self.telemetry = MqttTelemetry(endpoints["mqtt"], self.config.vin, period=5.0, switches=switches,
                                       precision_m=declared_precision(rig.netmap, endpoints["mqtt"]), defects=defects,
                                       phone=rig.owner.phone or "")
        self.services = build_services(self.config, rig.netmap, switches, defects, rig.owner)

    def vehicle_time(self) -> float:
        """Vehicle time from the bus; wall time until the first sync frame arrives."""
        value = self.inputs.value("time.vehicle_ms")
        return float(value) / 1000.0 if value is not None else time.time()

    def run(self, stop: threading.Event) -> None:
        self.tx.start()
        self.diagnostics.start()
        # the cloud side in a loop of its own: a name that does not resolve or a host that does not
        # answer holds up an upload, never the vehicle's own CAN messages and answers
        uplinks = threading.Thread(target=self._run_uplinks, args=(stop,), name="vecu-uplinks", daemon=True)
        uplinks.start()
        try:
            while not stop.is_set():
                asked = self._asked.wait(TICK_S)
                # cleared before the inputs are read: a frame arriving during this tick asks for the next
                self._asked.clear()
                now = self.vehicle_time()
                inputs = self.inputs.snapshot()
                self.switches.follow()
                self.ota.tick(now, inputs)
                self.announce.publish(self.ota.outputs(), self.answer if asked else ())
        finally:
            stop.set()
            uplinks.join(timeout=UPLINK_JOIN_S)
            self.close()

    def _run_uplinks(self, stop: threading.Event) -> None:
        """The reports, telemetry and services, each sending when due in vehicle time."""
        while not stop.wait(TICK_S):
            now = self.vehicle_time()
            inputs = self.inputs.snapshot()
            self.reporter.tick(now, inputs)
            self.telemetry.tick(now, inputs)
            for service in self.services:
                service.tick(now, inputs)

    def close(self) -> None:
        self.diagnostics.close()
        self.ota.close()
        self.tx.stop()
        self.notifier.stop()
        self.reporter.close()
        self.telemetry.close()
        for service in self.services:
            service.close()
        self.bus.shutdown()
