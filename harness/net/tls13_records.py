"""TLS 1.3 records opened directly with the traffic secrets of an NSS key log (RFC 8446 sections 5.2,
5.3 and 7): the AEAD suites every TLS 1.3 stack offers, one side at a time.

A capture of a connected vehicle holds thousands of short records (polls, status reports, telemetry),
and a record dissected by scapy's TLS layer costs milliseconds; this costs microseconds. Anything it
does not know (another suite, early data, a record that fails its tag) raises `Unsupported`, and the
caller falls back to scapy's TLS layer, which then gives its own verdict on the session."""

from __future__ import annotations

from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

APPLICATION_DATA, HANDSHAKE, ALERT = 23, 22, 21
FINISHED, KEY_UPDATE = 20, 24

Aead = AESGCM | AESCCM | ChaCha20Poly1305
# cipher suite -> (AEAD for a key, key length, hash of the key schedule)
SUITES: dict[int, tuple[Callable[[bytes], Aead], int, hashes.HashAlgorithm]] = {
    0x1301: (AESGCM, 16, hashes.SHA256()),
    0x1302: (AESGCM, 32, hashes.SHA384()),
    0x1303: (ChaCha20Poly1305, 32, hashes.SHA256()),
    0x1304: (AESCCM, 16, hashes.SHA256()),
}
LABELS = {True: ("CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"),
          False: ("SERVER_HANDSHAKE_TRAFFIC_SECRET", "SERVER_TRAFFIC_SECRET_0")}


class Unsupported(Exception):
    """This session needs scapy's TLS layer (or cannot be opened at all)."""


def expand_label(secret: bytes, label: str, length: int, algorithm: hashes.HashAlgorithm) -> bytes:
    """HKDF-Expand-Label with an empty context."""
    full = b"tls13 " + label.encode("ascii")
    info = length.to_bytes(2, "big") + bytes([len(full)]) + full + b"\x00"
    return HKDFExpand(algorithm, length, info).derive(secret)


class _Direction:
    """One side's record protection: its key, IV and sequence number under the current secret."""

    def __init__(self, suite: int, secret: bytes) -> None:
        self.make, self.key_length, self.algorithm = SUITES[suite]
        self.rekey(secret)

    def rekey(self, secret: bytes) -> None:
        self.secret = secret
        self.aead = self.make(expand_label(secret, "key", self.key_length, self.algorithm))
        self.iv = int.from_bytes(expand_label(secret, "iv", 12, self.algorithm), "big")
        self.sequence = 0

    def open(self, header: bytes, body: bytes) -> tuple[int, bytes]:
        """(inner content type, content) of one protected record."""
        nonce = (self.iv ^ self.sequence).to_bytes(12, "big")
        try:
            inner = self.aead.decrypt(nonce, body, header)
        except InvalidTag:
            raise Unsupported(f"record {self.sequence} of its key fails its authentication tag") from None
        self.sequence += 1
        content = inner.rstrip(b"\x00")
        if not content:
            raise Unsupported("a record with no content type")
        return content[-1], content[:-1]

    def update(self) -> None:
        """KeyUpdate: the next secret of this side."""
        self.rekey(expand_label(self.secret, "traffic upd", self.algorithm.digest_size, self.algorithm))


def open_side(records: list[tuple[int, bytes]], suite: int, secrets: dict[str, bytes],
              from_client: bool) -> list[tuple[int, bytes]]:
    """The application data of one side: (index of the record among `records`, its plaintext) for
    every record carrying some. `records` are (content type, body) in stream order."""
    if suite not in SUITES:
        raise Unsupported(f"cipher suite 0x{suite:04x}")
    handshake_label, traffic_label = LABELS[from_client]
    if handshake_label not in secrets or traffic_label not in secrets:
        raise Unsupported("the key log lacks a traffic secret of this session")
    keys = _Direction(suite, secrets[handshake_label])
    in_handshake, pending, data = True, b"", []
    for index, (kind, body) in enumerate(records):
        if kind != APPLICATION_DATA:
            if in_handshake:
                continue  # the plaintext hello and the compatibility ChangeCipherSpec
            raise Unsupported(f"a plaintext record of type {kind} after the handshake")
        header = bytes([kind, 3, 3]) + len(body).to_bytes(2, "big")
        inner, content = keys.open(header, body)
        if inner == APPLICATION_DATA:
            if in_handshake:
                raise Unsupported("application data before the handshake finished (early data)")
            data.append((index, content))
        elif inner == HANDSHAKE:
            pending += content
            for message in _messages(pending):
                if in_handshake and message == FINISHED:
                    keys, in_handshake = _Direction(suite, secrets[traffic_label]), False
                elif not in_handshake and message == KEY_UPDATE:
                    keys.update()
            pending = _remainder(pending)
        elif inner != ALERT:
            raise Unsupported(f"inner content type {inner}")
    return data


def _messages(data: bytes) -> list[int]:
    """The types of the whole handshake messages in `data`."""
    types, cursor = [], 0
    while cursor + 4 <= len(data):
        size = int.from_bytes(data[cursor + 1:cursor + 4], "big")
        if cursor + 4 + size > len(data):
            break
        types.append(data[cursor])
        cursor += 4 + size
    return types


def _remainder(data: bytes) -> bytes:
    """What follows the last whole handshake message (a message may span records)."""
    cursor = 0
    while cursor + 4 <= len(data):
        size = int.from_bytes(data[cursor + 1:cursor + 4], "big")
        if cursor + 4 + size > len(data):
            break
        cursor += 4 + size
    return data[cursor:]
