"""Data categories of a payload: JSON keys and GB/T 32960 information units mapped onto the
fixed vocabulary (location, vin, biometric, ...).

The key table is the analyze contract's; a profile may extend it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

KEY_CATEGORIES: dict[str, str] = {
    **dict.fromkeys(("lat", "latitude", "lon", "lng", "longitude", "gps", "position", "trajectory"), "location"),
    "vin": "vin",
    **dict.fromkeys(("face", "face_image", "face_embedding", "face_id", "voice", "voiceprint"), "biometric"),
    **dict.fromkeys(("cabin_image", "cabin_cam", "dms_image"), "cabin_imagery"),
    **dict.fromkeys(("front_cam", "camera_frame", "lidar", "point_cloud", "road_image"), "exterior_imagery"),
    **dict.fromkeys(("audio", "recording"), "audio"),
    **dict.fromkeys(("name", "phone", "id_number"), "personal_identity"),
    **dict.fromkeys(("speed", "soc", "odometer", "gear"), "vehicle_state"),
    **dict.fromkeys(("dtc", "dtcs"), "diagnostics"),
}

# GB/T 32960.3 information units: 0x05 is the vehicle position; the rest describe the vehicle
GBT32960_UNIT_CATEGORIES: dict[int, str] = {
    0x01: "vehicle_state", 0x02: "vehicle_state", 0x03: "vehicle_state", 0x04: "vehicle_state",
    0x05: "location", 0x06: "vehicle_state", 0x07: "diagnostics", 0x08: "vehicle_state", 0x09: "vehicle_state",
}


def categories_of_keys(keys: Iterable[str], table: Mapping[str, str] = KEY_CATEGORIES) -> set[str]:
    return {table[k.lower()] for k in keys if k.lower() in table}


def json_keys(value: Any) -> set[str]:
    """Every object key anywhere in a JSON document."""
    keys: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            keys.update(str(k) for k in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return keys


def categories_of_json(payload: bytes, table: Mapping[str, str] = KEY_CATEGORIES) -> set[str] | None:
    """Categories of a JSON payload, or None when it is not JSON."""
    try:
        document = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    return categories_of_keys(json_keys(document), table)
