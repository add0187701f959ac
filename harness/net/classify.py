"""Data categories of a payload: JSON keys, GB/T 32960 information units and images mapped onto the
fixed vocabulary (location, vin, biometric, ...).

The key table is the analyze contract's; a profile may extend it. An image says by its magic bytes
that it is an image, but only the names around it (JSON key, MQTT topic, URL path, form field) say
whose image: an image no name explains cannot be judged and is reported as undecodable."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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

IMAGE_CATEGORIES = frozenset({"exterior_imagery", "cabin_imagery", "biometric"})
# Words in a name that say which camera an image came from, when no whole key of the table matches.
IMAGE_NAME_WORDS: dict[str, str] = {
    **dict.fromkeys(("cabin", "interior", "dms", "driver", "occupant", "incabin"), "cabin_imagery"),
    **dict.fromkeys(("front", "rear", "exterior", "road", "surround", "dashcam", "adas", "lidar", "street",
                     "outside", "traffic"), "exterior_imagery"),
    **dict.fromkeys(("face", "faces", "selfie"), "biometric"),
}

# (magic, offset, format): enough leading bytes to tell an image from any other binary
_IMAGE_MAGIC: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "JPEG"), (b"\x89PNG\r\n\x1a\n", 0, "PNG"), (b"GIF87a", 0, "GIF"), (b"GIF89a", 0, "GIF"),
    (b"WEBP", 8, "WebP"), (b"II*\x00", 0, "TIFF"), (b"MM\x00*", 0, "TIFF"), (b"BM", 0, "BMP"),
    (b"ftypheic", 4, "HEIC"), (b"ftypheix", 4, "HEIC"), (b"ftypmif1", 4, "HEIF"), (b"ftypavif", 4, "AVIF"),
    (b"\x00\x00\x00\x0cjP  ", 0, "JPEG 2000"), (b"\xff\x4f\xff\x51", 0, "JPEG 2000"),
)
_DATA_URI = re.compile(rb"^data:image/[\w.+-]+;base64,", re.IGNORECASE)
# How the magics above begin once base64-encoded: a cheap test before decoding anything
_BASE64_IMAGE_STARTS = ("/9j/", "iVBORw0KGgo", "R0lGOD", "UklGR", "SUkq", "TU0AK", "Qk", "AAAA", "/0//U", "data:",
                        "DATA:", "Data:")
_WORDS = re.compile(r"[a-z0-9]+")
# ISO 3779: 17 characters without I, O and Q; a real one mixes letters and digits
_VIN = re.compile(r"(?<![A-Z0-9])(?=[A-HJ-NPR-Z0-9]*[0-9])(?=[A-HJ-NPR-Z0-9]*[A-HJ-NPR-Z])"
                  r"[A-HJ-NPR-Z0-9]{17}(?![A-Z0-9])")


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
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return categories_of_keys(json_keys(document), table)


def vin_in_names(names: Iterable[str]) -> bool:
    """A VIN among identifiers (topic levels, client ids, URL path segments)."""
    return any(len(name) >= 17 and _VIN.search(name) for name in names)


def image_format(data: bytes) -> str | None:
    """The image format the leading bytes announce, or None."""
    for magic, offset, name in _IMAGE_MAGIC:
        if data[offset:offset + len(magic)] == magic:
            if name == "WebP" and data[:4] != b"RIFF" or name == "BMP" and len(data) < 26:
                continue
            return name
    return None


def embedded_image(text: str | bytes) -> str | None:
    """The format of an image carried as base64 text (plain or a data: URI), or None."""
    if len(text) < 16:
        return None
    if isinstance(text, str):
        if not text.startswith(_BASE64_IMAGE_STARTS):
            return None
        raw = text.encode("latin-1", "replace")
    else:
        if not text.startswith(tuple(p.encode() for p in _BASE64_IMAGE_STARTS)):
            return None
        raw = text
    match = _DATA_URI.match(raw)
    head = raw[match.end():] if match else raw
    try:
        # 24 base64 characters decode to the 18 leading bytes every magic above fits in
        decoded = base64.b64decode(head[:24], validate=True)
    except (binascii.Error, ValueError):
        return None
    return image_format(decoded)


def image_category(names: Iterable[str], table: Mapping[str, str] = KEY_CATEGORIES) -> str | None:
    """Whose image, from the names around it: a whole key of the table, else a telling word in a name."""
    names = [n for n in names if n]
    for name in reversed(names):  # the innermost name says most
        category = table.get(name.lower())
        if category in IMAGE_CATEGORIES:
            return category
    for name in reversed(names):
        for word in _WORDS.findall(name.lower().replace("_", " ")):
            if word in IMAGE_NAME_WORDS:
                return IMAGE_NAME_WORDS[word]
    return None


@dataclass
class Classification:
    """What one message body carried: categories, a position if it holds one, and what was not understood."""

    categories: set[str] = field(default_factory=set)
    location: tuple[float, float] | None = None
    unknown: list[str] = field(default_factory=list)   # why (part of) the body could not be judged
    images: int = 0

    @property
    def decodable(self) -> bool:
        return not self.unknown


def classify_json_document(document: Any, names: Iterable[str] = (), table: Mapping[str, str] = KEY_CATEGORIES,
                           result: Classification | None = None) -> Classification:
    """Categories of a parsed JSON document; string values that are base64 images are classified by
    the key path leading to them (and the outer `names`, e.g. the MQTT topic)."""
    result = result or Classification()
    found = result.categories
    lookup = _key_lookup(table)
    images = False
    stack = [document]
    while stack:  # first pass: keys, and whether any string looks like an image (rare)
        item = stack.pop()
        if type(item) is dict:
            for key, value in item.items():
                category = lookup(key)
                if category:
                    found.add(category)
                kind = type(value)
                if kind is dict or kind is list:
                    stack.append(value)
                elif kind is str and len(value) >= 16 and value.startswith(_BASE64_IMAGE_STARTS):
                    images = True
        elif type(item) is list:
            stack.extend(item)
        elif type(item) is str and len(item) >= 16 and item.startswith(_BASE64_IMAGE_STARTS):
            images = True
    if images:
        _classify_images(document, list(names), table, result)
    if "location" in found and result.location is None:
        result.location = json_location(document)
    return result


_LOOKUPS: dict[int, tuple[Mapping[str, str], Any]] = {}
_MISSING = object()


def _key_lookup(table: Mapping[str, str]) -> Any:
    """key -> category for a table, remembering each key seen (telemetry repeats the same few keys)."""
    entry = _LOOKUPS.get(id(table))
    if entry is None or entry[0] is not table:
        seen: dict[Any, str | None] = {}

        def lookup(key: Any) -> str | None:
            category = seen.get(key, _MISSING)
            if category is _MISSING:
                if len(seen) > 65536:  # hostile documents with ever new keys must not grow it without end
                    seen.clear()
                category = seen[key] = table.get(str(key).lower())
            return category  # type: ignore[return-value]

        entry = _LOOKUPS[id(table)] = (table, lookup)
    return entry[1]


def _classify_images(document: Any, outer: list[str], table: Mapping[str, str], result: Classification) -> None:
    """Base64 images in a document, each named by the key path that leads to it."""
    paths: list[tuple[Any, tuple[str, ...]]] = [(document, ())]
    while paths:
        item, path = paths.pop()
        if isinstance(item, dict):
            paths.extend((value, (*path, str(key))) for key, value in item.items())
        elif isinstance(item, list):
            paths.extend((value, path) for value in item)
        elif isinstance(item, str):
            kind = embedded_image(item)
            if kind:
                _image(result, kind, [*outer, *path], table, f"base64 {kind} under {'/'.join(path) or 'the top'}")


def classify_body(body: bytes, names: Iterable[str] = (), content_type: str = "",
                  table: Mapping[str, str] = KEY_CATEGORIES) -> Classification:
    """A message body of any kind: JSON, form fields, an image (binary or base64), or unknown."""
    result = Classification()
    names = list(names)
    stripped = body.strip()
    if not stripped:
        return result
    kind = None if stripped[:1] in b"{[" else image_format(body) or embedded_image(stripped)
    if kind:
        _image(result, kind, names, table, f"{kind} image")
        return result
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        document = _NOT_JSON
    if document is not _NOT_JSON:
        return classify_json_document(document, names, table, result)
    if "x-www-form-urlencoded" in content_type.lower():
        return classify_form(body, names, table)
    result.unknown.append(f"{len(body)}-byte body that is neither JSON nor an image")
    return result


def classify_form(body: bytes, names: Iterable[str] = (), table: Mapping[str, str] = KEY_CATEGORIES) -> Classification:
    from urllib.parse import parse_qsl

    result = Classification()
    try:
        pairs = parse_qsl(body.decode("latin-1"), keep_blank_values=True)
    except ValueError:
        result.unknown.append("malformed form body")
        return result
    result.categories |= categories_of_keys((k for k, _ in pairs), table)
    for key, value in pairs:
        kind = embedded_image(value)
        if kind:
            _image(result, kind, [*names, key], table, f"base64 {kind} in form field {key}")
    return result


def _image(result: Classification, kind: str, names: list[str], table: Mapping[str, str], what: str) -> None:
    result.images += 1
    category = image_category(names, table)
    if category:
        result.categories.add(category)
    else:
        result.unknown.append(f"{what} whose source no name tells (exterior or cabin camera?)")


_NOT_JSON = object()


def json_location(document: Any) -> tuple[float, float] | None:
    """(lat, lon) from a JSON object with lat/latitude and lon/lng/longitude keys, at the top or one level down."""
    if not isinstance(document, dict):
        return None
    for item in (document, *document.values()):
        if not isinstance(item, dict):
            continue
        lat = item.get("lat", item.get("latitude"))
        lon = item.get("lon", item.get("lng", item.get("longitude")))
        if isinstance(lat, int | float) and isinstance(lon, int | float) and not isinstance(lat, bool):
            return float(lat), float(lon)
    return None
