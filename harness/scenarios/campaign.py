"""OTA campaigns as the harness's backend offers them: metadata, package, digest and signature.

The notice fields are what the owner must be told before the update (purpose, content,
duration, cautions, unavailable functions) and are checked against what the vehicle shows."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from harness.net.ota_campaign import CAUTIONS, FUNCTIONS, PURPOSES, bitmask, notice_digest, version_text

__all__ = ["CAUTIONS", "FUNCTIONS", "LIMITS", "PURPOSES", "Campaign", "bitmask", "example_campaign",
           "next_version", "notice_digest", "public_key_pem", "speed_limiter_campaign"]

# Performance limits a campaign may declare a change of (abstract signal `limits.<name>` on CAN).
LIMITS = ("usable_capacity_kwh", "max_power_kw", "max_speed_kph")


@dataclass(frozen=True)
class Campaign:
    campaign_id: int
    target_version: tuple[int, int, int]
    purpose: str
    purpose_text: str
    content_text: str
    estimated_duration_min: int
    cautions: tuple[str, ...]
    cautions_text: str
    unavailable_functions: tuple[str, ...]
    package: bytes
    # new values of performance limits after the update, by LIMITS name; anything else stays as it was
    declared_changes: dict[str, float] = field(default_factory=dict)
    min_soc_pct: float = 30.0

    def __post_init__(self) -> None:
        if self.purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {PURPOSES}, got {self.purpose!r}")
        for value, allowed in ((self.unavailable_functions, FUNCTIONS), (self.cautions, CAUTIONS)):
            unknown = set(value) - set(allowed)
            if unknown:
                raise ValueError(f"unknown {sorted(unknown)}; allowed {allowed}")
        unknown = set(self.declared_changes) - set(LIMITS)
        if unknown:
            raise ValueError(f"declared_changes names unknown limits {sorted(unknown)}; known {LIMITS}")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.package).hexdigest()

    @property
    def notice_digest(self) -> int:
        """CRC-32 of the notice texts, as the owner's screen reports what it displayed."""
        return notice_digest(self.purpose_text, self.content_text, self.cautions_text)

    @property
    def version_text(self) -> str:
        return version_text(self.target_version)

    @property
    def package_url(self) -> str:
        return f"/ota/v1/packages/{self.campaign_id}"

    def metadata(self, signer: Ed25519PrivateKey) -> dict[str, Any]:
        return {
            "campaign_id": self.campaign_id,
            "target_version": self.version_text,
            "purpose": self.purpose,
            "purpose_text": self.purpose_text,
            "content_text": self.content_text,
            "estimated_duration_min": self.estimated_duration_min,
            "cautions": list(self.cautions),
            "cautions_text": self.cautions_text,
            "unavailable_functions": list(self.unavailable_functions),
            "declared_changes": dict(self.declared_changes),
            "min_soc_pct": self.min_soc_pct,
            "package": {"url": self.package_url, "size": len(self.package),
                        "sha256": self.sha256, "signature": signer.sign(self.package).hex()},
        }

    def but(self, **changes: Any) -> Campaign:
        """A copy with some fields changed (another id, version or declaration)."""
        return replace(self, **changes)


def public_key_pem(signer: Ed25519PrivateKey) -> bytes:
    return signer.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)


def next_version(version: tuple[int, int, int]) -> tuple[int, int, int]:
    """The release after `version`: the next patch, carried into minor and major at 255."""
    major, minor, patch = version
    if patch < 255:
        return major, minor, patch + 1
    return (major, minor + 1, 0) if minor < 255 else (major + 1, 0, 0)


def example_campaign(campaign_id: int = 4201, duration_min: int = 20,
                     target_version: tuple[int, int, int] = (1, 5, 0)) -> Campaign:
    """A realistic campaign: a battery-management fix that keeps the vehicle parked for a while."""
    return Campaign(
        campaign_id=campaign_id,
        target_version=target_version,
        purpose="Bugfix",
        purpose_text="Fixes an error in the battery management software that can show a wrong range.",
        content_text=(f"Battery management software {version_text(target_version)}: corrected state-of-charge "
                      "estimation at low temperature."),
        estimated_duration_min=duration_min,
        cautions=("stay_parked", "keep_doors_closed"),
        cautions_text="Keep the vehicle parked with the parking brake applied and the doors closed.",
        unavailable_functions=("driving", "charging", "remote_access"),
        package=bytes(range(256)) * 256,
    )


def speed_limiter_campaign(campaign_id: int, target_version: tuple[int, int, int]) -> Campaign:
    """A campaign that declares a change of vehicle performance: a regulatory top-speed limit."""
    return Campaign(
        campaign_id=campaign_id,
        target_version=target_version,
        purpose="Regulatory",
        purpose_text="Limits the top speed as the new regulation for this vehicle category requires.",
        content_text=(f"Powertrain software {version_text(target_version)}: top speed limited to 160 km/h; "
                      "battery capacity and drive power unchanged."),
        estimated_duration_min=15,
        cautions=("stay_parked",),
        cautions_text="Keep the vehicle parked with the parking brake applied.",
        unavailable_functions=("driving", "driver_assistance"),
        package=bytes(reversed(range(256))) * 192,
        declared_changes={"max_speed_kph": 160.0},
    )
