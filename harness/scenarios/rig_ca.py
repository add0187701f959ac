"""The rig's certificate authority, made afresh for each run: server certificates per name (also
for any SNI the catch-all is asked for, on the fly) and the vehicle's client certificate.

Keys are EC P-256: a certificate costs about a millisecond, so the sink can mint one per new name.
Everything lives in one directory the rig removes with the run; nothing here is trusted by the host."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness.errors import RigError

VALID = dt.timedelta(days=2)


class RigCa:
    """Issues certificates under a CA whose certificate file the vehicle trusts (`ca_file`)."""

    def __init__(self, directory: Path, name: str = "Virtual rig CA") -> None:
        self.directory = directory
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._key = ec.generate_private_key(ec.SECP256R1())
            self._name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
            now = dt.datetime.now(dt.UTC)
            self._cert = (
                x509.CertificateBuilder().subject_name(self._name).issuer_name(self._name)
                .public_key(self._key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + VALID)
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                             key_encipherment=False, data_encipherment=False, key_agreement=False,
                                             key_cert_sign=True, crl_sign=True, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(self._key, hashes.SHA256())
            )
            self.ca_file = directory / "ca.pem"
            self.ca_file.write_bytes(self._cert.public_bytes(serialization.Encoding.PEM))
        except (OSError, ValueError) as exc:
            raise RigError(f"the rig CA could not be made in {directory}: {exc}") from None
        self._lock = threading.Lock()
        self._contexts: dict[str, ssl.SSLContext] = {}

    def issue(self, name: str, *, client: bool = False) -> tuple[Path, Path]:
        """A certificate and key file for `name` (a DNS name or an address), signed by this CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        try:
            san: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(name))
        except ValueError:
            san = x509.DNSName(name)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(self._name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + VALID)
            .add_extension(x509.SubjectAlternativeName([san]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        stem = "".join(c if c.isalnum() or c in ".-" else "_" for c in name) + ("-client" if client else "")
        cert_file, key_file = self.directory / f"{stem}.pem", self.directory / f"{stem}.key"
        try:
            cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
            key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
        except OSError as exc:
            raise RigError(f"the rig CA could not write a certificate for {name}: {exc}") from None
        return cert_file, key_file

    def vehicle_material(self, vin: str) -> Path:
        """A directory with what the vehicle needs for TLS: `ca.pem`, `vehicle.pem`, `vehicle.key`."""
        directory = self.directory / "vehicle"
        directory.mkdir(exist_ok=True)
        cert_file, key_file = self.issue(vin, client=True)
        for source, name in ((self.ca_file, "ca.pem"), (cert_file, "vehicle.pem"), (key_file, "vehicle.key")):
            (directory / name).write_bytes(source.read_bytes())
        return directory

    def server_context(self, name: str, *, require_client: bool = False) -> ssl.SSLContext:
        """A server context presenting a certificate for `name`; made once per name and reused."""
        key = f"{name}|{require_client}"
        with self._lock:
            context = self._contexts.get(key)
            if context is None:
                cert_file, key_file = self.issue(name)
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                context.load_cert_chain(cert_file, key_file)
                if require_client:
                    context.verify_mode = ssl.CERT_REQUIRED
                    context.load_verify_locations(self.ca_file)
                self._contexts[key] = context
            return context
