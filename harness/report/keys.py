"""The keys a lab signs evidence bundles with and an approval body trusts: PEM files holding an Ed25519 or
ECDSA (P-256, P-384) private key, a public key, or an X.509 certificate.

Loading problems are ConfigError (one line, exit status 2) naming the file and the fix."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from harness.errors import ConfigError

PASSPHRASE_ENV = "HARNESS_KEY_PASSPHRASE"  # for a private key stored encrypted
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.+?-----END \1-----", re.S)
_CURVES = {"secp256r1": hashes.SHA256, "secp384r1": hashes.SHA384}

PrivateKey = ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey


def key_id(public: PublicKey) -> str:
    """sha256 of the DER SubjectPublicKeyInfo: the same for a key and for any certificate of it."""
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).hexdigest()


@dataclass(frozen=True)
class TrustedKey:
    """A public key an approval body accepts signatures from; `name` says whose it is."""

    public: PublicKey
    name: str

    @property
    def keyid(self) -> str:
        return key_id(self.public)

    def verifies(self, signature: bytes, message: bytes) -> bool:
        try:
            if isinstance(self.public, ed25519.Ed25519PublicKey):
                self.public.verify(signature, message)
            else:
                self.public.verify(signature, message, ec.ECDSA(_curve_hash(self.public.curve)()))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class Signer:
    """A private key, with the certificate that names its holder when the lab has one."""

    private: PrivateKey
    certificate: x509.Certificate | None = None

    @property
    def trusted(self) -> TrustedKey:
        name = self.certificate.subject.rfc4514_string() if self.certificate is not None else "key"
        return TrustedKey(self.private.public_key(), name)

    def describe(self) -> str:
        key = f"key {self.trusted.keyid[:16]}"
        return f"{self.trusted.name} ({key})" if self.certificate is not None else key

    def sign(self, message: bytes) -> bytes:
        if isinstance(self.private, ed25519.Ed25519PrivateKey):
            return self.private.sign(message)
        return self.private.sign(message, ec.ECDSA(_curve_hash(self.private.curve)()))


def _curve_hash(curve: ec.EllipticCurve) -> type[hashes.HashAlgorithm]:
    if curve.name not in _CURVES:
        raise ConfigError(f"ECDSA curve {curve.name} is not supported; use Ed25519, P-256 or P-384")
    return _CURVES[curve.name]


def _blocks(path: Path) -> dict[str, bytes]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the key file: {exc.strerror or exc}") from None
    blocks: dict[str, bytes] = {}
    for match in _PEM_BLOCK.finditer(data):
        blocks.setdefault(match.group(1).decode("ascii"), match.group(0))
    if not blocks:
        raise ConfigError(f"{path}: not a PEM file (no -----BEGIN ...----- block); make one with `harness keygen`")
    return blocks


def _supported(key: object, path: Path) -> None:
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        try:
            _curve_hash(key.curve)
        except ConfigError as exc:
            raise ConfigError(f"{path}: {exc}") from None
        return
    raise ConfigError(f"{path}: a {type(key).__name__.lstrip('_')} cannot sign bundles; use an Ed25519 key "
                      f"(harness keygen) or ECDSA P-256/P-384")


def _certificate(pem: bytes, path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(pem)
    except ValueError as exc:
        raise ConfigError(f"{path}: the certificate does not load: {exc}") from None


def load_signer(key_file: Path, certificate_file: Path | None = None) -> Signer:
    """The private key in `key_file` (PEM, may hold its certificate too) and the certificate, if any."""
    blocks = _blocks(key_file)
    pem = next((v for k, v in blocks.items() if k.endswith("PRIVATE KEY")), None)
    if pem is None:
        raise ConfigError(f"{key_file}: holds no private key (PEM ... PRIVATE KEY); --sign needs the lab's private "
                          f"key, the public key or certificate is for --trust")
    passphrase = os.environ.get(PASSPHRASE_ENV)
    try:
        private = serialization.load_pem_private_key(pem, passphrase.encode() if passphrase else None)
    except TypeError:
        raise ConfigError(f"{key_file}: the private key is encrypted; put its passphrase in {PASSPHRASE_ENV}") \
            from None
    except (ValueError, UnsupportedAlgorithm) as exc:
        first = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise ConfigError(f"{key_file}: the private key does not load: {first}") from None
    _supported(private, key_file)
    assert isinstance(private, ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey)
    certificate = None
    if certificate_file is not None:
        cert_blocks = _blocks(certificate_file)
        if "CERTIFICATE" not in cert_blocks:
            raise ConfigError(f"{certificate_file}: holds no certificate (PEM CERTIFICATE)")
        certificate = _certificate(cert_blocks["CERTIFICATE"], certificate_file)
    elif "CERTIFICATE" in blocks:
        certificate = _certificate(blocks["CERTIFICATE"], key_file)
    if certificate is not None:
        certified = certificate.public_key()
        if not isinstance(certified, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey) \
                or key_id(certified) != key_id(private.public_key()):
            raise ConfigError(f"{certificate_file or key_file}: the certificate is not for the private key in "
                              f"{key_file}")
    return Signer(private, certificate)


def load_trusted(path: Path) -> TrustedKey:
    """The public key in `path`: a PEM public key or an X.509 certificate (its subject names the signer)."""
    blocks = _blocks(path)
    if "CERTIFICATE" in blocks:
        certificate = _certificate(blocks["CERTIFICATE"], path)
        public: object = certificate.public_key()
        name = certificate.subject.rfc4514_string()
    elif "PUBLIC KEY" in blocks:
        try:
            public = serialization.load_pem_public_key(blocks["PUBLIC KEY"])
        except (ValueError, UnsupportedAlgorithm) as exc:
            first = str(exc).splitlines()[0] if str(exc) else "unreadable"
            raise ConfigError(f"{path}: the public key does not load: {first}") from None
        name = path.name
    else:
        raise ConfigError(f"{path}: holds neither a public key nor a certificate; --trust takes the lab's public "
                          f"key (harness keygen writes it as KEY.pub) or its certificate")
    _supported(public, path)
    assert isinstance(public, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey)
    return TrustedKey(public, name)


def write_key_pair(out: Path) -> tuple[Path, Path, str]:
    """A new Ed25519 key: `out` (private, PKCS#8 PEM, mode 0600) and `out.pub` (public); never overwrites."""
    public_file = out.with_name(out.name + ".pub")
    for path in (out, public_file):
        if path.exists():
            raise ConfigError(f"{path} exists; keygen never overwrites a key (choose another name)")
    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    try:
        # created 0600 from the start: the key is never readable by others, not even briefly
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(pem)
        public_file.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    except OSError as exc:
        raise ConfigError(f"{out}: cannot write the key: {exc.strerror or exc}") from None
    return out, public_file, key_id(private.public_key())
