"""The vECU's telematics: GB/T 32960 real-time reports to the platform, MQTT telemetry to the TSP.

Behaviour follows the vehicle state and the owner's consent switches read from CAN; seeded
defects change exactly one thing (where reports go, what reports and telemetry hold)."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from scapy.packet import Raw

from harness.errors import RigError
from harness.net import gbt32960
from harness.net.gbt32960_crypto import AES128, UnitKeys, encrypt_frame, load_unit_key
from harness.rig.config import Endpoint
from harness.rig.platform_encryption import KEY_ENV, PlatformEncryption
from harness.vecu.privacy import OwnerSwitches, coarsen
from harness.vecu.tls import client_context

GEAR_CODES = {"P": 0x0F, "R": 0x0D, "N": 0x00, "D": 0x0E}  # GB/T 32960 gear: P=1111b, R=1101b, D=1110b
Seal = Callable[[bytes], bytes]  # a plain frame -> the frame as it goes out (its data unit encrypted or not)


def platform_seal(config: PlatformEncryption) -> Seal:
    """Frames as the platform wants them: data units encrypted with its key, the rig's or the run's."""
    if not config.wanted:
        return lambda frame: frame
    path = config.key or os.environ.get(KEY_ENV)
    if not path:
        raise RigError("the GB/T 32960 platform wants encrypted data units but the rig gave the vehicle no key")
    keys = load_unit_key(path)
    return lambda frame: encrypt_frame(frame, keys, config.encryption)


def own_key_seal() -> Seal:
    """Data units sealed with a key only this ECU holds (a seeded defect: nobody else can read them)."""
    keys = UnitKeys(aes=os.urandom(16))
    return lambda frame: encrypt_frame(frame, keys, AES128)


class Gbt32960Link:
    """One TCP connection to a platform: login once, then frames; reconnects after failures."""

    def __init__(self, endpoint: Endpoint, vin: str, iccid: str, seal: Seal = lambda frame: frame) -> None:
        self.endpoint, self.vin, self.iccid, self.seal = endpoint, vin, iccid, seal
        self._sock: socket.socket | None = None
        self._retry_at = 0.0
        self._serial = 0

    def send(self, frame: bytes, when: datetime) -> bool:
        if self._sock is None and not self._connect(when):
            return False
        assert self._sock is not None
        try:
            self._sock.sendall(self.seal(frame))
            self._drain()
            return True
        except OSError:
            self.close()
            return False

    def _connect(self, when: datetime) -> bool:
        if time.monotonic() < self._retry_at:
            return False
        try:
            sock = socket.create_connection((self.endpoint.dial, self.endpoint.port), timeout=2.0)
            self._serial += 1
            sock.sendall(self.seal(gbt32960.build_login(self.vin, when, self._serial, self.iccid)))
            sock.setblocking(False)
            self._sock = sock
            return True
        except OSError:
            self._retry_at = time.monotonic() + 1.0
            return False

    def _drain(self) -> None:
        # platform responses are read and dropped: the vehicle does not act on them here
        assert self._sock is not None
        try:
            while self._sock.recv(65536):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


class Gbt32960Reporter:
    """Real-time reports every `period` seconds of vehicle time with the units the standard requires
    of a battery-electric vehicle: vehicle, drive motor, position, extremes, alarms."""

    def __init__(self, endpoint: Endpoint, vin: str, iccid: str, period: float, *, switches: OwnerSwitches,
                 mirror: Endpoint | None = None, custom_units: bool = False, phone: str = "",
                 seal: Seal = lambda frame: frame, mirror_seal: Seal | None = None) -> None:
        self.link = Gbt32960Link(endpoint, vin, iccid, seal)
        # seeded defects: an analytics copy abroad, sent while the owner shares location (sealed with
        # the platform's key, or with one only the ECU holds)
        self.mirror = Gbt32960Link(mirror, vin, iccid, mirror_seal or seal) if mirror is not None else None
        self.vin, self.period, self.switches, self.custom_units = vin, period, switches, custom_units
        self.phone = phone
        self._next = 0.0

    def tick(self, now: float, inputs: Mapping[str, Any]) -> None:
        if now < self._next:
            return
        self._next = now + self.period
        when = datetime.fromtimestamp(now, UTC).replace(tzinfo=None)
        # seeded defect: a maker-defined unit (0x80) with the cabin temperature and the owner's phone
        extra = [Raw(b"\x80" + bytes([22 + 40]) + self.phone.encode())] if self.custom_units else []
        frame = gbt32960.build_realtime(self.vin, when, vehicle=_vehicle_data(inputs), motors=[_motor(inputs)],
                                        location=_location(inputs), extremes=EXTREMES, alarms=gbt32960.Alarms(),
                                        extra_units=extra)
        self.link.send(frame, when)
        if self.mirror is not None and self.switches.on("consent.location"):
            self.mirror.send(frame, when)

    def close(self) -> None:
        self.link.close()
        if self.mirror is not None:
            self.mirror.close()


EXTREMES = gbt32960.Extremes(max_cell_voltage_v=4.121, min_cell_voltage_v=4.087, max_temp_c=31, min_temp_c=27)


def _vehicle_data(inputs: Mapping[str, Any]) -> gbt32960.VehicleData:
    charging = inputs.get("battery.charging_state", "NotCharging")
    return gbt32960.VehicleData(
        vehicle_state=1 if inputs.get("vehicle.ignition") in ("On", "Start") else 2,
        charging_state=1 if charging in ("ChargingAC", "ChargingDC") else 3,
        mode=1,
        speed_kmh=float(inputs.get("vehicle.speed_kph", 0.0)),
        odometer_km=12345.6,
        voltage_v=396.0,
        current_a=0.0,
        soc_pct=int(float(inputs.get("battery.soc_pct", 0.0))),
        dcdc_state=1,
        gear=GEAR_CODES.get(str(inputs.get("vehicle.gear", "P")), 0x0F),
        insulation_kohm=5000,
        accelerator_pct=0,
        brake_pct=0,
    )


def _motor(inputs: Mapping[str, Any]) -> gbt32960.MotorData:
    speed = float(inputs.get("vehicle.speed_kph", 0.0))
    return gbt32960.MotorData(serial=1, state=0x01 if speed > 0.5 else 0x03, controller_temp_c=45,
                              speed_rpm=int(speed * 70), torque_nm=80.0 if speed > 0.5 else 0.0, temp_c=60,
                              controller_voltage_v=396.0, controller_current_a=20.0 if speed > 0.5 else 0.0)


def _location(inputs: Mapping[str, Any]) -> gbt32960.Location:
    if "gnss.latitude_deg" not in inputs:
        return gbt32960.Location(latitude=0.0, longitude=0.0, valid=False)  # the unit is mandatory; no fix yet
    return gbt32960.Location(latitude=float(inputs["gnss.latitude_deg"]),
                             longitude=float(inputs["gnss.longitude_deg"]),
                             valid=inputs.get("gnss.fix", "NoFix") != "NoFix")


class MqttTelemetry:
    """JSON telemetry to the maker's broker; the position, coarsened to the declared precision, only
    while the owner shares location."""

    def __init__(self, endpoint: Endpoint, vin: str, period: float, *, switches: OwnerSwitches,
                 precision_m: float | None, defects: frozenset[str] = frozenset(), phone: str = "") -> None:
        self.vin, self.period, self.switches, self.precision_m = vin, period, switches, precision_m
        # seeded defects: the position keeps flowing once shared; the owner's phone rides along
        self.latch_location = "location-after-withdrawal" in defects
        self.with_phone = "telemetry-beyond-purpose" in defects
        self.phone = phone
        self._shared_once = False
        self.topic = f"vehicles/{vin}/telemetry"
        self._next = 0.0
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"tbox-{vin}")
        self.client.reconnect_delay_set(min_delay=1, max_delay=2)
        if endpoint.tls:  # MQTT over TLS with the vehicle's certificate, as a TSP asks
            context = client_context()
            if context is None:
                raise RigError(f"{endpoint.dial} speaks TLS but the rig gave the vehicle no TLS material")
            self.client.tls_set_context(context)
        self.client.connect_async(endpoint.dial, endpoint.port, keepalive=30)
        self.client.loop_start()

    def tick(self, now: float, inputs: Mapping[str, Any]) -> None:
        self._shared_once = self._shared_once or self.switches.on("consent.location")
        if now < self._next or not self.client.is_connected():
            return
        self._next = now + self.period
        payload: dict[str, Any] = {
            "vin": self.vin,
            "ts": int(now * 1000),
            "speed": round(float(inputs.get("vehicle.speed_kph", 0.0)), 1),
            "soc": round(float(inputs.get("battery.soc_pct", 0.0)), 1),
            "gear": str(inputs.get("vehicle.gear", "P")),
        }
        if self.with_phone:
            payload["phone"] = self.phone
        # the switch is read again right before sending, so a withdrawal takes effect at once
        shares = self.switches.on("consent.location") or (self.latch_location and self._shared_once)
        if shares and "gnss.latitude_deg" in inputs:
            payload["lat"], payload["lon"] = coarsen(float(inputs["gnss.latitude_deg"]),
                                                     float(inputs["gnss.longitude_deg"]), self.precision_m)
        self.client.publish(self.topic, json.dumps(payload, separators=(",", ":")), qos=1)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
