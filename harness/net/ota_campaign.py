"""OTA campaign metadata as the backend sends it: validated into a CampaignMetadata, with the notice
vocabulary (purposes, functions, cautions) and the notice digest it shares with OtaNotice on CAN.

Both sides use it: the vECU to understand an offer, the checks to know what the owner should have
been told; a malformed description is refused with a message naming the problem."""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Bit positions and enum order as dbc/vehicle.dbc documents them for OtaNotice.
PURPOSES = ("None", "Security", "Bugfix", "Feature", "Performance", "Regulatory")
FUNCTIONS = ("driving", "charging", "climate", "remote_access", "driver_assistance", "infotainment")
CAUTIONS = ("stay_parked", "keep_doors_closed", "keep_charge", "nobody_inside", "do_not_charge")


def notice_digest(purpose_text: str, content_text: str, cautions_text: str) -> int:
    """CRC-32 of the notice texts exactly as displayed (UTF-8, joined by newline)."""
    return zlib.crc32("\n".join((purpose_text, content_text, cautions_text)).encode("utf-8"))


def bitmask(names: Iterable[str], vocabulary: tuple[str, ...]) -> int:
    return sum(1 << vocabulary.index(name) for name in names)


def version_text(version: tuple[int, int, int]) -> str:
    return ".".join(str(part) for part in version)


class MalformedCampaign(ValueError):
    """Campaign metadata that does not say what an update notice needs; the message says what is wrong."""


@dataclass(frozen=True)
class CampaignMetadata:
    """One campaign as the backend described it to the vehicle."""

    campaign_id: int
    target_version: tuple[int, int, int]
    purpose: str
    purpose_text: str
    content_text: str
    cautions_text: str
    duration_min: int
    cautions: tuple[str, ...]
    unavailable: tuple[str, ...]
    declared_changes: dict[str, float]
    min_soc_pct: float
    package_url: str
    package_size: int
    package_sha256: str
    package_signature: bytes
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def digest(self) -> int:
        return notice_digest(self.purpose_text, self.content_text, self.cautions_text)

    @property
    def version(self) -> str:
        return version_text(self.target_version)


def parse_campaign(meta: Any) -> CampaignMetadata:
    """The metadata of one campaign, validated; MalformedCampaign names the first problem."""
    if not isinstance(meta, Mapping):
        raise MalformedCampaign(f"a campaign entry is {type(meta).__name__}, not an object")
    campaign_id = _integer(meta, "campaign_id", 1, 65535)
    where = f"campaign {campaign_id}"
    version = _text(meta, "target_version", where)
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) < 256 for p in parts):
        raise MalformedCampaign(f"{where}: target_version {version!r} is not MAJOR.MINOR.PATCH (0-255 each)")
    purpose = _text(meta, "purpose", where)
    if purpose not in PURPOSES:
        raise MalformedCampaign(f"{where}: purpose {purpose!r} is not one of {', '.join(PURPOSES)}")
    cautions = _names(meta, "cautions", CAUTIONS, where)
    unavailable = _names(meta, "unavailable_functions", FUNCTIONS, where)
    changes = meta.get("declared_changes", {})
    if not isinstance(changes, Mapping) or not all(
            isinstance(k, str) and _is_number(v) for k, v in changes.items()):
        raise MalformedCampaign(f"{where}: declared_changes must map a limit name to its new value")
    min_soc = meta.get("min_soc_pct", 30.0)
    if not _is_number(min_soc) or not 0 <= float(min_soc) <= 100:
        raise MalformedCampaign(f"{where}: min_soc_pct {min_soc!r} is not a percentage")
    package = meta.get("package")
    if not isinstance(package, Mapping):
        raise MalformedCampaign(f"{where}: package is missing")
    signature = _text(package, "signature", f"{where} package")
    try:
        signature_bytes = bytes.fromhex(signature)
    except ValueError:
        raise MalformedCampaign(f"{where}: package signature is not hexadecimal") from None
    return CampaignMetadata(
        campaign_id=campaign_id,
        target_version=(int(parts[0]), int(parts[1]), int(parts[2])),
        purpose=purpose,
        purpose_text=_text(meta, "purpose_text", where),
        content_text=_text(meta, "content_text", where),
        cautions_text=_text(meta, "cautions_text", where, allow_empty=True),
        duration_min=_integer(meta, "estimated_duration_min", 1, 4095, where),
        cautions=cautions,
        unavailable=unavailable,
        declared_changes={str(k): float(v) for k, v in changes.items()},
        min_soc_pct=float(min_soc),
        package_url=_text(package, "url", f"{where} package"),
        package_size=_integer(package, "size", 1, 2**40, f"{where} package"),
        package_sha256=_text(package, "sha256", f"{where} package"),
        package_signature=signature_bytes,
        raw=dict(meta),
    )


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(meta: Mapping[str, Any], key: str, low: int, high: int, where: str = "") -> int:
    value = meta.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        prefix = f"{where}: " if where else ""
        shown = "missing" if value is None else repr(value)
        raise MalformedCampaign(f"{prefix}{key} is {shown}, not a whole number from {low} to {high}")
    return value


def _text(meta: Mapping[str, Any], key: str, where: str, allow_empty: bool = False) -> str:
    value = meta.get(key)
    if not isinstance(value, str) or (not value and not allow_empty):
        raise MalformedCampaign(f"{where}: {key} is {'missing' if value is None else repr(value)}, not a text")
    return value


def _names(meta: Mapping[str, Any], key: str, vocabulary: tuple[str, ...], where: str) -> tuple[str, ...]:
    value = meta.get(key)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise MalformedCampaign(f"{where}: {key} must be a list of names")
    unknown = sorted(set(value) - set(vocabulary))
    if unknown:
        raise MalformedCampaign(f"{where}: {key} holds unknown {unknown}; known: {', '.join(vocabulary)}")
    return tuple(value)
