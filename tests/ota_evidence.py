"""Synthetic OTA evidence for unit tests of the OTA checks: an ECU's OtaStatus, DriveInhibit,
OtaNotice and PerformanceLimits on CAN, the rest of the vehicle, and the backend's HTTP answers,
each at a vehicle time, without a rig."""

from __future__ import annotations

import json
from typing import Any

from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from harness.net.evidence import CanRecord
from harness.net.ota_campaign import CAUTIONS, FUNCTIONS, bitmask
from harness.net.pcapfile import LINKTYPE_ETHERNET, Packet
from harness.scenarios.campaign import Campaign
from tests.synthetic_evidence import VEHICLE, wall

BACKEND = "203.0.113.30"
PARKED = {"vehicle.speed_kph": 0.0, "vehicle.gear": "P", "vehicle.parking_brake": "Applied"}
DRIVING = {"vehicle.speed_kph": 50.0, "vehicle.gear": "D", "vehicle.parking_brake": "Released"}


class OtaBus:
    """CAN records in time order; every `add` goes at a vehicle time (seconds from the start)."""

    def __init__(self) -> None:
        self.records: list[CanRecord] = []
        self._counters: dict[str, int] = {}

    def add(self, t: float, message: str, values: dict[str, Any], arbitration_id: int = 0x100,
            data: bytes = b"") -> OtaBus:
        counter = self._counters.get(message, 0)
        self._counters[message] = (counter + 1) % 16
        self.records.append(CanRecord(wall(t), message, arbitration_id,
                                      {**values, f"counter.{message}": counter}, data))
        return self

    def vehicle(self, t: float, motion: dict[str, Any], soc: float = 80.0, charging: str = "NotCharging",
                volts: float = 12.6) -> OtaBus:
        self.add(t, "VehicleMotion", motion, 0x120)
        return self.add(t, "BatteryStatus", {"battery.soc_pct": soc, "battery.charging_state": charging,
                                              "battery.lv_voltage": volts}, 0x2A0)

    def status(self, t: float, state: str, campaign: int, version: tuple[int, int, int] = (1, 4, 0),
               result: str = "None", reason: str = "None", progress: int = 0,
               inhibit: bool | None = None) -> OtaBus:
        self.add(t, "OtaStatus", {
            "ota.status.state": state, "ota.status.campaign_id": campaign, "ota.status.result": result,
            "ota.status.fail_reason": reason, "ota.status.progress_pct": progress,
            "ota.status.version_major": version[0], "ota.status.version_minor": version[1],
            "ota.status.version_patch": version[2]}, 0x3B2)
        if inhibit is None:
            inhibit = state in ("Installing", "Activating")
        return self.add(t, "DriveInhibit", {"ota.inhibit.request": int(inhibit),
                                            "ota.inhibit.reason": "OtaInstallation" if inhibit else "None"}, 0x3B3)

    def notice(self, t: float, campaign: Campaign, **wrong: Any) -> OtaBus:
        """All three pages of the notice for `campaign`; `wrong` overrides what the screen shows."""
        major, minor, patch = campaign.target_version
        pages = [
            {"ota.notice.campaign_id": campaign.campaign_id, "ota.notice.duration_min": campaign.estimated_duration_min,
             "ota.notice.version_major": major, "ota.notice.version_minor": minor},
            {"ota.notice.purpose": campaign.purpose,
             "ota.notice.unavailable": bitmask(campaign.unavailable_functions, FUNCTIONS),
             "ota.notice.cautions": bitmask(campaign.cautions, CAUTIONS), "ota.notice.version_patch": patch},
            {"ota.notice.digest": campaign.notice_digest},
        ]
        for page, values in enumerate(pages):
            shown = {k: wrong.get(k.split(".")[-1], v) for k, v in values.items()}
            self.add(t + page * 0.1, "OtaNotice", {"ota.notice.page": page, **shown}, 0x3B0)
        return self

    def limits(self, t: float, capacity: float = 75.0, power: float = 150.0, speed: float = 180.0) -> OtaBus:
        return self.add(t, "PerformanceLimits", {"limits.usable_capacity_kwh": capacity,
                                                 "limits.max_power_kw": power, "limits.max_speed_kph": speed}, 0x2C0)

    def answer(self, t: float, campaign: int, action: str) -> OtaBus:
        return self.add(t, "OtaOwnerAction", {"ota.action.campaign_id": campaign, "ota.action.action": action,
                                              "ota.action.postpone_min": 0}, 0x3B1)


class HttpConversation:
    """One TCP connection from the vehicle to the backend with requests and responses."""

    def __init__(self, sport: int, start: float = 0.0) -> None:
        self.sport = sport
        self.seq = {True: 1000, False: 5000}
        self.packets: list[Packet] = []
        self._segment(start, True, "S", b"")
        self._segment(start, False, "SA", b"")
        self.seq[True] += 1
        self.seq[False] += 1

    def _segment(self, t: float, from_vehicle: bool, flags: str, data: bytes) -> None:
        src, dst = (VEHICLE, BACKEND) if from_vehicle else (BACKEND, VEHICLE)
        sport, dport = (self.sport, 8080) if from_vehicle else (8080, self.sport)
        layer = Ether() / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags, seq=self.seq[from_vehicle])
        raw = bytes(layer / Raw(data)) if data else bytes(layer)
        self.packets.append(Packet(wall(t), LINKTYPE_ETHERNET, raw, len(raw)))
        self.seq[from_vehicle] += len(data)

    def exchange(self, t: float, request: bytes, response: bytes) -> HttpConversation:
        self._segment(t, True, "PA", request)
        self._segment(t + 0.01, False, "PA", response)
        return self


def campaign_list(t: float, metadata: list[dict[str, Any]], sport: int = 41000) -> HttpConversation:
    body = json.dumps({"vin": "LHVTEST0000000001", "campaigns": metadata}).encode()
    response = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode() + body
    return HttpConversation(sport, t).exchange(t, b"GET /ota/v1/campaigns?vin=LHVTEST0000000001 HTTP/1.1\r\n"
                                                  b"Host: 203.0.113.30:8080\r\n\r\n", response)


def package_download(t: float, campaign: Campaign, body: bytes | None = None, sport: int = 42000) -> HttpConversation:
    data = campaign.package if body is None else body
    response = (f"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n\r\n"
                ).encode() + data
    request = f"GET {campaign.package_url} HTTP/1.1\r\nHost: 203.0.113.30:8080\r\n\r\n".encode()
    conversation = HttpConversation(sport, t)
    # a real stack splits a large body into segments; the reassembly does not care how
    conversation._segment(t, True, "PA", request)
    for offset in range(0, len(response), 1400):
        conversation._segment(t + 0.01, False, "PA", response[offset:offset + 1400])
    return conversation
