"""TLS session secrets from an NSS key-log file, as SSLKEYLOGFILE (browsers, OpenSSL, Python's ssl)
writes it, so captured TLS 1.2 and 1.3 application data can be decrypted offline.

Parsed here rather than with scapy's parse_nss_keys, which discards the whole file at the first
blank or foreign line; the result has the shape scapy's TLS session expects (label -> random -> secret)."""

from __future__ import annotations

import binascii
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError

# TLS 1.2 needs CLIENT_RANDOM (the master secret); TLS 1.3 needs the handshake and traffic secrets
TLS12_LABELS = ("CLIENT_RANDOM",)
TLS13_LABELS = ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET",
                "CLIENT_TRAFFIC_SECRET_0", "SERVER_TRAFFIC_SECRET_0")
KNOWN_LABELS = frozenset(TLS12_LABELS + TLS13_LABELS + (
    "EXPORTER_SECRET", "EARLY_EXPORTER_SECRET", "CLIENT_EARLY_TRAFFIC_SECRET", "RSA"))


@dataclass
class KeyLog:
    """label -> client random -> secret, plus how many lines could not be used."""

    secrets: dict[str, dict[bytes, bytes]] = field(default_factory=dict)
    skipped: int = 0
    source: str = ""

    def has_session(self, client_random: bytes) -> str | None:
        """"1.2" or "1.3" when the log holds what decrypting that session needs, else None."""
        if all(client_random in self.secrets.get(label, {}) for label in TLS13_LABELS):
            return "1.3"
        if client_random in self.secrets.get("CLIENT_RANDOM", {}):
            return "1.2"
        return None

    def __len__(self) -> int:
        return sum(len(entries) for entries in self.secrets.values())


def parse_keylog(text: str, source: str = "") -> KeyLog:
    log = KeyLog(source=source)
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3 or parts[0] not in KNOWN_LABELS:
            log.skipped += 1
            continue
        try:
            random, secret = binascii.unhexlify(parts[1]), binascii.unhexlify(parts[2])
        except (binascii.Error, ValueError):
            log.skipped += 1
            continue
        if parts[0] != "RSA" and len(random) != 32:
            log.skipped += 1
            continue
        log.secrets.setdefault(parts[0], {})[random] = secret
    return log


def load_keylog(path: Path | str) -> KeyLog:
    """The key log at `path`; a file that is missing, unreadable or holds no key is a ConfigError."""
    path = Path(path)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        raise ConfigError(f"key log {path} not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"key log {path} cannot be read as an NSS key log: {exc}") from None
    log = parse_keylog(text, str(path))
    if not len(log):
        raise ConfigError(f"key log {path} holds no TLS secret in NSS key-log format "
                          "(lines like `CLIENT_RANDOM <64 hex> <96 hex>`, as SSLKEYLOGFILE writes)")
    return log


def readable_keylog(path: Path | str) -> KeyLog | None:
    """The key log a run kept beside a capture, or None where it is missing, unreadable or holds no
    secret: then the TLS flows stay opaque (inconclusive where they matter), as with no key log at all."""
    try:
        return load_keylog(path)
    except ConfigError:
        return None


def recorded_problem(path: Path | str) -> str:
    """The one line a run kept beside a capture on why its key log may lack secrets."""
    try:
        lines = Path(path).read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError as exc:
        return f"the note on the key log ({Path(path).name}) cannot be read: {exc.strerror or exc}"
    return lines[0] if lines else f"the note on the key log ({Path(path).name}) is empty"
