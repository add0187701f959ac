"""The vECU's connected services beyond the mandated reports: the owner's account at the maker's
TSP, crowdsourced map updates from the exterior camera, driver monitoring on the cabin camera, and
the voice assistant.

Compliant by default: cabin, face and voice data are processed in the vehicle and leave it only
while the owner's switch is on, positions are coarsened to each purpose's declared precision. A
seeded defect changes exactly one thing."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Protocol
from urllib.parse import quote

from harness.policy.netmap import Netmap
from harness.rig.config import Owner, VecuConfig
from harness.vecu.privacy import OwnerSwitches, coarsen, declared_precision
from harness.vecu.sensors import face_template, jpeg_frame, voice_clip
from harness.vecu.telematics import MqttTelemetry
from harness.vecu.uplink import JsonUplink

DRIVING_KPH = 5.0


class Service(Protocol):
    def tick(self, now: float, inputs: Mapping[str, Any]) -> None: ...

    def close(self) -> None: ...


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _ignition(inputs: Mapping[str, Any]) -> bool:
    return inputs.get("vehicle.ignition") in ("On", "Start")


class Periodic:
    """Runs `due` every `period` seconds of vehicle time."""

    def __init__(self, period: float) -> None:
        self.period = period
        self._next = 0.0

    def due(self, now: float) -> bool:
        if now < self._next:
            return False
        self._next = now + self.period
        return True


class OwnerAccount:
    """Signs the owner in to the maker's account service when the vehicle starts (retrying until it
    succeeds): the one flow that carries the owner's identity."""

    def __init__(self, uplink: JsonUplink, vin: str, owner: Owner) -> None:
        self.uplink, self.vin = uplink, vin
        self.identity = {"name": owner.name, "phone": owner.phone}
        self.timer = Periodic(5.0)
        self.signed_in = False

    def tick(self, now: float, inputs: Mapping[str, Any]) -> None:
        if self.signed_in or not self.timer.due(now):
            return
        self.signed_in = self.uplink.post("/account/v1/session", {"vin": self.vin, **self.identity})

    def close(self) -> None:
        self.uplink.close()


class MapCrowdsourcing:
    """While driving, a road snapshot from the exterior camera with the (coarsened) position, for the
    maker's map updates; only while the owner shares location."""

    def __init__(self, uplinks: list[tuple[JsonUplink, float | None]], switches: OwnerSwitches,
                 precise: bool, contact: str | None = None) -> None:
        self.uplinks, self.switches, self.precise = uplinks, switches, precise
        # seeded defect: the owner's phone rides along in the query string, under a name of the maker's
        self.path = "/maps/v1/observations" + (f"?src=tbox&msisdn={quote(''.join(c for c in contact if c.isdigit()))}"
                                               if contact else "")
        self.timer = Periodic(10.0)
        self.frames = 0

    def tick(self, now: float, inputs: Mapping[str, Any]) -> None:
        if float(inputs.get("vehicle.speed_kph", 0.0)) < DRIVING_KPH or "gnss.latitude_deg" not in inputs:
            return
        if not self.timer.due(now):
            return
        self.frames += 1
        image = jpeg_frame(int(now * 7) % 256, f"road frame {self.frames}")
        latitude, longitude = float(inputs["gnss.latitude_deg"]), float(inputs["gnss.longitude_deg"])
        for uplink, precision in self.uplinks:
            if not self.switches.on("consent.location"):
                return
            lat, lon = (round(latitude, 7), round(longitude, 7)) if self.precise else coarsen(
                latitude, longitude, precision)
            observation = {"ts": int(now * 1000), "road_image": _b64(image), "lat": lat, "lon": lon,
                           "heading": round(float(inputs.get("gnss.heading_deg", 0.0)))}
            uplink.post(self.path, observation, allowed=lambda: self.switches.on("consent.location"))

    def close(self) -> None:
        for uplink, _ in self.uplinks:
            uplink.close()


class DriverMonitoring:
    """The cabin camera watches the driver for fatigue in the vehicle; a cabin frame and the face
    template go to the maker's service only while the owner allows cabin camera upload."""

    def __init__(self, uplink: JsonUplink, vin: str, switches: OwnerSwitches, *, overseas: JsonUplink | None,
                 default_on: bool, driver: str, unset_allowed: bool = False,
                 unavailable_allowed: bool = False) -> None:
        self.uplink, self.vin, self.switches, self.overseas = uplink, vin, switches, overseas
        self.default_on, self.unset_allowed, self.unavailable_allowed = default_on, unset_allowed, unavailable_allowed
        self.timer = Periodic(10.0)
        self.template = face_template(driver)
        self._initial: str | None = None
        self._touched = False

    def _allowed(self) -> bool:
        value = self.switches.value("consent.cabin_camera")
        if value not in ("On", "Off"):
            # nothing received yet ("None"), or the HMI cannot tell (SNA): neither is the owner's consent
            if self.unset_allowed and value == "None":
                return True  # seeded defect: a switch not yet received from the HMI counts as allowed
            if self.unavailable_allowed and value != "None":
                return True  # seeded defect: a switch the HMI reports as not available counts as allowed
            return value == "On"
        if self._initial is None:
            self._initial = value
        self._touched = self._touched or value != self._initial
        if self.default_on and not self._touched:
            return True  # seeded defect: the switch is only honoured once the owner has changed it
        return value == "On"

    def tick(self, now: float, inputs: Mapping[str, Any]) -> None:
        allowed = self._allowed()  # read every tick, so a change of the switch is never missed
        if not _ignition(inputs) or not self.timer.due(now) or not allowed:
            return
        frame = jpeg_frame(int(now * 3) % 256, "cabin")
        self.uplink.post("/dms/v1/events", {"vin": self.vin, "ts": int(now * 1000), "event": "attention-check",
                                            "cabin_image": _b64(frame), "face_embedding": self.template},
                         allowed=self._allowed)
        if self.overseas is not None and self._allowed():
            self.overseas.post("/faceid/v1/enrol", {"vin": self.vin, "face_embedding": self.template})

    def close(self) -> None:
        self.uplink.close()
        if self.overseas is not None:
            self.overseas.close()


class VoiceAssistant:
    """The driver speaks a command every so often; it is recognised in the vehicle, and the recording
    goes to the cloud assistant only while the owner allows voice upload."""

    def __init__(self, uplink: JsonUplink, vin: str, switches: OwnerSwitches) -> None:
        self.uplink, self.vin, self.switches = uplink, vin, switches
        self.timer = Periodic(15.0)
        self.clip = voice_clip()

    def tick(self, now: float, inputs: Mapping[str, Any]) -> None:
        if not _ignition(inputs) or not self.timer.due(now) or not self.switches.on("consent.voice"):
            return
        self.uplink.post("/voice/v1/utterances", {"vin": self.vin, "ts": int(now * 1000), "lang": "zh-CN",
                                                  "audio": _b64(self.clip)},
                         allowed=lambda: self.switches.on("consent.voice"))

    def close(self) -> None:
        self.uplink.close()


def build_services(config: VecuConfig, netmap: Netmap, switches: OwnerSwitches,
                   defects: frozenset[str], owner: Owner) -> list[Service]:
    """The services whose endpoints the rig names; a rig without an endpoint has no such service."""
    endpoints = config.endpoints
    services: list[Service] = []

    def uplink(key: str) -> JsonUplink:
        return JsonUplink(endpoints[key])

    if "account" in endpoints and owner.name and owner.phone:
        services.append(OwnerAccount(uplink("account"), config.vin, owner))
    if "maps" in endpoints:
        targets = [(uplink("maps"), declared_precision(netmap, endpoints["maps"]))]
        if "road-images-abroad" in defects:
            targets.append((uplink("maps_overseas"), declared_precision(netmap, endpoints["maps_overseas"])))
        services.append(MapCrowdsourcing(targets, switches, precise="map-location-too-precise" in defects,
                                         contact=owner.phone if "phone-in-query" in defects else None))
    if "cabin" in endpoints:
        overseas = uplink("face_overseas") if "face-template-abroad" in defects else None
        services.append(DriverMonitoring(uplink("cabin"), config.vin, switches, overseas=overseas,
                                         default_on="cabin-images-by-default" in defects,
                                         driver=owner.name or config.vin,
                                         unset_allowed="cabin-upload-before-settings" in defects,
                                         unavailable_allowed="cabin-upload-while-settings-unavailable" in defects))
    if "voice" in endpoints:
        services.append(VoiceAssistant(uplink("voice"), config.vin, switches))
    if "location-mqtt-tls-abroad" in defects:  # the telemetry, raw position and all, to a broker abroad
        services.append(MqttTelemetry(endpoints["mqtt_overseas"], config.vin, period=5.0, switches=switches,
                                      precision_m=None))
    from harness.vecu.overseas import DEFECTS, OverseasUploads  # builds on this module's Periodic

    if defects & DEFECTS:
        services.append(OverseasUploads(config, switches, defects))
    return services
