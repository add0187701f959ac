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
from harness.vecu.ota_client import OtaClient
from harness.vecu.telematics import Gbt32960Reporter, MqttTelemetry

TICK_S = 0.005
NOTICE_PAGES = 3


class VirtualEcu:
    def __init__(self, rig: Rig, defects: frozenset[str], can_namespace: str | None,
                 trust_anchor: Path | None) -> None:
        assert rig.vecu is not None and rig.can.mapping is not None
        self.rig, self.config, self.defects = rig, rig.vecu, defects
        self.codec = VehicleCodec.load(rig.can.dbc, rig.can.mapping)
        self.bus = open_bus(rig.can, can_namespace)
        self.inputs = SignalMonitor(self.codec)
        self.notifier = can.Notifier(self.bus, [self.inputs])
        self.tx = CyclicTransmitter(self.bus, self.codec, self.codec.ecu_messages())
        self._page = 0
        self.tx.provide("ota.notice.page", self._next_page)
        self.ota = OtaClient(self.config.endpoints["ota"], self.config.vin, self.config.software_version,
                             trust_anchor.read_bytes() if trust_anchor else None, defects)
        platforms = [self.config.endpoints["gbt32960"]]
        if "location-to-overseas" in defects:
            platforms.append(self.config.endpoints["gbt32960_mirror"])
        self.reporter = Gbt32960Reporter(platforms, self.config.vin, self.config.iccid,
                                         self.config.report_period_s)
        self.telemetry = MqttTelemetry(self.config.endpoints["mqtt"], self.config.vin, period=5.0)

    def _next_page(self) -> int:
        self._page = (self._page + 1) % NOTICE_PAGES
        return self._page

    def vehicle_time(self) -> float:
        """Vehicle time from the bus; wall time until the first sync frame arrives."""
        value = self.inputs.value("time.vehicle_ms")
        return float(value) / 1000.0 if value is not None else time.time()

    def run(self, stop: threading.Event) -> None:
        self.tx.set({"limits.usable_capacity_kwh": 75.0, "limits.max_power_kw": 150,
                     "limits.max_speed_kph": 180, **self.ota.outputs()})
        self.tx.start()
        try:
            while not stop.wait(TICK_S):
                now = self.vehicle_time()
                inputs = self.inputs.snapshot()
                self.ota.tick(now, inputs)
                self.tx.set(self.ota.outputs())
                self.reporter.tick(now, inputs)
                self.telemetry.tick(now, inputs)
        finally:
            self.close()

    def close(self) -> None:
        self.tx.stop()
        self.notifier.stop()
        self.reporter.close()
        self.telemetry.close()
        self.bus.shutdown()
