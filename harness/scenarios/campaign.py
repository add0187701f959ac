"""OTA campaigns as the harness's backend offers them: metadata, package, digest and signature.

The notice fields are what the owner must be told before the update (purpose, content,
duration, cautions, unavailable functions) and are checked against what the vehicle shows."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PURPOSES = ("None", "Security", "Bugfix", "Feature", "Performance", "Regulatory")
FUNCTIONS = ("driving", "charging", "climate", "remote_access", "driver_assistance", "infotainment")
CAUTIONS = ("stay_parked", "keep_doors_closed", "keep_charge", "nobody_inside", "do_not_charge")


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
    declared_changes: dict[str, float] = field(default_factory=dict)
    min_soc_pct: float = 30.0

    def __post_init__(self) -> None:
        if self.purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {PURPOSES}, got {self.purpose!r}")
        for value, allowed in ((self.unavailable_functions, FUNCTIONS), (self.cautions, CAUTIONS)):
            unknown = set(value) - set(allowed)
            if unknown:
                raise ValueError(f"unknown {sorted(unknown)}; allowed {allowed}")

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.package).hexdigest()

    @property
    def notice_digest(self) -> int:
        """CRC-32 of the notice texts, as the owner's screen reports what it displayed."""
        return notice_digest(self.purpose_text, self.content_text, self.cautions_text)

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.target_version)

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
            "package": {"url": f"/ota/v1/packages/{self.campaign_id}", "size": len(self.package),
                        "sha256": self.sha256, "signature": signer.sign(self.package).hex()},
        }


def notice_digest(purpose_text: str, content_text: str, cautions_text: str) -> int:
    return zlib.crc32("\n".join((purpose_text, content_text, cautions_text)).encode("utf-8"))


def bitmask(names: tuple[str, ...], vocabulary: tuple[str, ...]) -> int:
    return sum(1 << vocabulary.index(name) for name in names)


def public_key_pem(signer: Ed25519PrivateKey) -> bytes:
    return signer.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)


def example_campaign(campaign_id: int = 4201, duration_min: int = 20) -> Campaign:
    """A realistic campaign: a battery-management fix that keeps the vehicle parked for a while."""
    return Campaign(
        campaign_id=campaign_id,
        target_version=(1, 5, 0),
        purpose="Bugfix",
        purpose_text="Fixes an error in the battery management software that can show a wrong range.",
        content_text="Battery management software 1.5.0: corrected state-of-charge estimation at low temperature.",
        estimated_duration_min=duration_min,
        cautions=("stay_parked", "keep_doors_closed"),
        cautions_text="Keep the vehicle parked with the parking brake applied and the doors closed.",
        unavailable_functions=("driving", "charging", "remote_access"),
        package=bytes(range(256)) * 256,
    )
