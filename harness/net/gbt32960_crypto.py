"""GB/T 32960 data units encrypted as the header's encryption byte says (0x02 RSA, 0x03 AES-128), with
the platform's key: what the vehicle sends, and what the platform and the decoders read back.

The standard names the ciphers but leaves their modes to the platform; these are the harness's
conventions, each a named mode so another platform's choice is a key file away:
- AES-128 `cbc` (the default): PKCS#7 padding, a fresh 16-byte IV sent first in the data unit, then
  the ciphertext. `ecb`: PKCS#7 padding, no IV (what many platforms run; it leaks equal blocks).
- RSA: OAEP with SHA-256 (and MGF1-SHA-256) under the platform's key pair, the data unit cut into
  chunks of the largest size OAEP takes, each encrypted to one modulus-sized block.

Key files: AES-128 is one line of 32 hex digits, optionally after its mode as `AES-128-CBC` or
`AES-128-ECB` (bare hex is CBC); RSA is the platform's private key in PEM (2048 bits or more)."""

from __future__ import annotations

import binascii
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.padding import MGF1, OAEP
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from harness.errors import ConfigError
from harness.net.gbt32960_frames import HEADER_LEN, LENGTH_OK, bcc

NONE, RSA, AES128 = 0x01, 0x02, 0x03
ENCRYPTION_NAMES = {"none": NONE, "rsa": RSA, "aes128": AES128}
AES_MODES = ("cbc", "ecb")
_BLOCK = 16
_MIN_RSA_BITS = 2048
_OAEP = OAEP(mgf=MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
_OAEP_OVERHEAD = 2 * hashes.SHA256.digest_size + 2
_TIMED = (0x01, 0x02, 0x03, 0x04, 0x08)  # commands whose data unit starts with a collection time


class UnitDecryptError(ValueError):
    """A data unit that stays unread: no key for its cipher, a wrong key, broken padding."""


@dataclass(frozen=True)
class UnitKeys:
    """The platform's keys: the AES-128 key (with its mode) and the RSA key pair, either may be absent."""

    aes: bytes | None = None
    aes_mode: str = "cbc"
    rsa: rsa.RSAPrivateKey | None = None
    sources: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.aes is not None and len(self.aes) != _BLOCK:
            raise ValueError(f"an AES-128 key has 16 bytes, got {len(self.aes)}")
        if self.aes_mode not in AES_MODES:
            raise ValueError(f"AES mode {self.aes_mode!r} is not one of {', '.join(AES_MODES)}")

    def merged(self, other: UnitKeys) -> UnitKeys:
        return UnitKeys(other.aes or self.aes, other.aes_mode if other.aes else self.aes_mode,
                        other.rsa or self.rsa, self.sources + other.sources)

    def can_encrypt(self, encryption: int) -> bool:
        return (encryption == AES128 and self.aes is not None) or (encryption == RSA and self.rsa is not None)


def encrypt_unit(keys: UnitKeys, encryption: int, data: bytes,
                 random: Callable[[int], bytes] = os.urandom) -> bytes:
    """The data unit as the vehicle sends it under `encryption` (0x02 RSA, 0x03 AES-128)."""
    if encryption == AES128 and keys.aes is not None:
        padder = padding.PKCS7(128).padder()
        padded = padder.update(data) + padder.finalize()
        iv = random(_BLOCK) if keys.aes_mode == "cbc" else b""
        encryptor = _aes(keys.aes, keys.aes_mode, iv).encryptor()
        return iv + encryptor.update(padded) + encryptor.finalize()
    if encryption == RSA and keys.rsa is not None:
        public = keys.rsa.public_key()
        size = public.key_size // 8 - _OAEP_OVERHEAD
        chunks = [data[i:i + size] for i in range(0, len(data), size)] or [b""]
        return b"".join(public.encrypt(chunk, _OAEP) for chunk in chunks)
    raise UnitDecryptError(f"no key to encrypt with encryption 0x{encryption:02x}")


def decrypt_unit(keys: UnitKeys | None, encryption: int, data: bytes, *, mode: str | None = None) -> bytes:
    """The plaintext of an encrypted data unit; `mode` overrides the AES key's own mode."""
    if encryption == AES128:
        if keys is None or keys.aes is None:
            raise UnitDecryptError("no AES-128 key given")
        mode = mode or keys.aes_mode
        iv, body = (data[:_BLOCK], data[_BLOCK:]) if mode == "cbc" else (b"", data)
        if not body or len(body) % _BLOCK:
            raise UnitDecryptError(f"{len(data)} bytes are no AES-128-{mode.upper()} ciphertext")
        decryptor = _aes(keys.aes, mode, iv).decryptor()
        padded = decryptor.update(body) + decryptor.finalize()
        unpadder = padding.PKCS7(128).unpadder()
        try:
            return unpadder.update(padded) + unpadder.finalize()
        except ValueError:
            raise UnitDecryptError("the key does not decrypt it (bad padding: wrong key or mode)") from None
    if encryption == RSA:
        if keys is None or keys.rsa is None:
            raise UnitDecryptError("no RSA private key given")
        size = keys.rsa.key_size // 8
        if not data or len(data) % size:
            raise UnitDecryptError(f"{len(data)} bytes are not whole {size}-byte RSA blocks")
        try:
            return b"".join(keys.rsa.decrypt(data[i:i + size], _OAEP) for i in range(0, len(data), size))
        except ValueError:
            raise UnitDecryptError("the RSA key does not decrypt it (wrong key or padding)") from None
    raise UnitDecryptError(f"encryption 0x{encryption:02x} is not a cipher the standard names")


def _aes(key: bytes, mode: str, iv: bytes) -> Cipher[modes.CBC] | Cipher[modes.ECB]:
    if mode == "cbc":
        return Cipher(algorithms.AES(key), modes.CBC(iv))
    return Cipher(algorithms.AES(key), modes.ECB())


def _reframe(raw: bytes, encryption: int, data: bytes) -> bytes:
    head = raw[:21] + bytes((encryption,)) + len(data).to_bytes(2, "big")
    return head + data + bytes((bcc(head[2:] + data),))


def encrypt_frame(frame: bytes, keys: UnitKeys, encryption: int) -> bytes:
    """A plain frame with its data unit encrypted: header byte, length and BCC rewritten. An empty
    data unit (a heartbeat) has nothing to hide and stays as it is."""
    length = int.from_bytes(frame[22:24], "big")
    data = frame[HEADER_LEN:HEADER_LEN + length]
    if not data or encryption == NONE:
        return frame
    sealed = encrypt_unit(keys, encryption, data)
    if len(sealed) > 0xFFFF:
        raise ValueError(f"the encrypted data unit ({len(sealed)} bytes) does not fit the 2-byte length")
    return _reframe(frame, encryption, sealed)


def decrypt_frame(raw: bytes, keys: UnitKeys | None) -> bytes:
    """The frame with its data unit decrypted (encryption byte 0x01), so every plain decoder reads it.

    A plaintext that is no data unit of the frame's command (a wrong key whose padding happened to
    hold) is refused too: garbage must not be judged as what the vehicle sent."""
    length = int.from_bytes(raw[22:24], "big")
    plain = decrypt_unit(keys, raw[21], raw[HEADER_LEN:HEADER_LEN + length])
    if not LENGTH_OK.get(raw[2], lambda n: True)(len(plain)) or (raw[2] in _TIMED and plain
                                                                   and not _plausible_time(plain[:6])):
        raise UnitDecryptError("what the key gives is no GB/T 32960 data unit (wrong key?)")
    return _reframe(raw, NONE, plain)


def _plausible_time(t: bytes) -> bool:
    return len(t) == 6 and 1 <= t[1] <= 12 and 1 <= t[2] <= 31 and t[3] < 24 and t[4] < 60 and t[5] < 60


def load_unit_keys(paths: Iterable[Path | str]) -> UnitKeys:
    """The keys in these files, merged; a file that is missing or holds no usable key is a ConfigError
    naming it."""
    keys = UnitKeys()
    for path in paths:
        keys = keys.merged(load_unit_key(path))
    return keys


def load_unit_key(path: Path | str) -> UnitKeys:
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"GB/T 32960 key {path} not found") from None
    except OSError as exc:
        raise ConfigError(f"GB/T 32960 key {path} cannot be read: {exc.strerror}") from None
    if b"-----BEGIN" in raw:
        return UnitKeys(rsa=_rsa_key(path, raw), sources=(str(path),))
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise ConfigError(f"GB/T 32960 key {path}: neither hex text (an AES-128 key) nor PEM (an RSA key pair)") \
            from None
    words = [w for line in text.splitlines() if not line.lstrip().startswith("#") for w in line.split()]
    mode = "cbc"
    if words and words[0].upper() in ("AES-128-CBC", "AES-128-ECB"):
        mode = words.pop(0)[-3:].lower()
    digits = "".join(words)
    try:
        key = binascii.unhexlify(digits)
    except (binascii.Error, ValueError):
        raise ConfigError(f"GB/T 32960 key {path}: expected 32 hex digits (an AES-128 key), optionally after "
                          "AES-128-CBC or AES-128-ECB, or a PEM RSA private key") from None
    if len(key) != _BLOCK:
        raise ConfigError(f"GB/T 32960 key {path}: an AES-128 key has 16 bytes (32 hex digits), "
                          f"this one has {len(key)}")
    return UnitKeys(aes=key, aes_mode=mode, sources=(str(path),))


def _rsa_key(path: Path, raw: bytes) -> rsa.RSAPrivateKey:
    if b"PRIVATE KEY" not in raw:
        raise ConfigError(f"GB/T 32960 key {path} holds no private key: decrypting RSA data units needs the "
                          "platform's private key (PEM)")
    try:
        key = serialization.load_pem_private_key(raw, password=None)
    except TypeError:
        raise ConfigError(f"GB/T 32960 key {path}: the private key is encrypted; give it unencrypted") from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"GB/T 32960 key {path}: not a PEM private key: {str(exc).splitlines()[0]}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ConfigError(f"GB/T 32960 key {path}: a {type(key).__name__.removeprefix('_')} key, not RSA")
    if key.key_size < _MIN_RSA_BITS:
        raise ConfigError(f"GB/T 32960 key {path}: a {key.key_size}-bit RSA key; at least {_MIN_RSA_BITS} bits")
    return key


def write_unit_key(path: Path, encryption: int, random: Callable[[int], bytes] = os.urandom) -> Path:
    """A fresh platform key (the virtual rig makes one per run), mode 0600."""
    if encryption == AES128:
        text = f"AES-128-CBC {random(_BLOCK).hex()}\n".encode("ascii")
    elif encryption == RSA:
        text = rsa.generate_private_key(public_exponent=65537, key_size=_MIN_RSA_BITS).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    else:
        raise ValueError(f"no key for encryption 0x{encryption:02x}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(text)
    return path


def readable_unit_key(path: Path | str) -> UnitKeys | None:
    """The platform key a run kept beside a capture, or None where it is missing or unusable: then the
    encrypted data units stay unread (inconclusive where they matter), as with no key at all."""
    try:
        return load_unit_key(path)
    except ConfigError:
        return None
