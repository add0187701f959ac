"""[gbt32960] in a rig file: how the GB/T 32960 platform wants data units encrypted, and its key.

The vECU encrypts with it, the simulated platform and the decoders open what it sealed. On the virtual
rig a key is made per run where the file names none; a bench names the platform's key file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import ConfigError
from harness.net.gbt32960_crypto import AES128, ENCRYPTION_NAMES, NONE, RSA, UnitKeys, load_unit_key

if TYPE_CHECKING:
    from harness.rig.config import _Reader

KEY_ENV = "HARNESS_VECU_GBT32960_KEY"  # the platform key file the rig hands the vECU
# in a test's evidence: secret material, as the TLS key log is
EVIDENCE_NAMES = {AES128: "gbt32960-key.txt", RSA: "gbt32960-key.pem"}


@dataclass(frozen=True)
class PlatformEncryption:
    """What the platform wants: 0x01 none, 0x02 RSA, 0x03 AES-128; `key` None on a virtual rig means
    one made per run."""

    encryption: int = NONE
    key: Path | None = None

    @property
    def wanted(self) -> bool:
        return self.encryption != NONE

    @property
    def evidence_name(self) -> str:
        return EVIDENCE_NAMES[self.encryption]


def platform_encryption(table: _Reader, virtual: bool) -> PlatformEncryption:
    unknown = sorted(set(table.data) - {"encryption", "key"})
    if unknown:
        raise table.fail(unknown[0], "unknown key; [gbt32960] has encryption and key")
    name = table.get("encryption", str, "none")
    if name not in ENCRYPTION_NAMES:
        raise table.fail("encryption", f"must be one of {', '.join(ENCRYPTION_NAMES)}, got {name!r}")
    encryption = ENCRYPTION_NAMES[name]
    if "key" not in table.data:
        if encryption != NONE and not virtual:
            raise table.fail("key", "missing: a bench names the platform's key file (only the virtual rig makes one)")
        return PlatformEncryption(encryption)
    if encryption == NONE:
        raise table.fail("key", 'is for encrypted data units: set encryption = "aes128" or "rsa", or remove it')
    key = Path(table.get("key", str))
    try:
        keys = load_unit_key(key)
    except ConfigError as exc:
        raise table.fail("key", str(exc)) from None
    if not keys.can_encrypt(encryption):
        raise table.fail("key", f"{key} holds {'an RSA key pair' if keys.rsa else 'an AES-128 key'}, "
                                f'but encryption = "{name}"')
    return PlatformEncryption(encryption, key)


def platform_keys(config: PlatformEncryption, made: Path | None = None) -> UnitKeys | None:
    """The platform's keys from the rig's key file, or from the one made for this run."""
    path = config.key or made
    return load_unit_key(path) if config.wanted and path is not None else None
