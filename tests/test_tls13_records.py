"""The direct TLS 1.3 record layer: the key schedule of RFC 8448, every AEAD suite with a key update,
records it must refuse, and a real session read exactly as scapy's TLS layer reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from scapy.layers.inet import TCP
from scapy.layers.l2 import Ether

from harness.net.keylog import parse_keylog
from harness.net.tls import (
    _Decryption,
    parse_client_hello,
    server_chose_tls13,
    server_cipher_suite,
    split_records,
)
from harness.net.tls13_records import Unsupported, expand_label, open_side
from tests.tls_evidence import Tls

HANDSHAKE_SECRET = bytes(range(32, 64))
TRAFFIC_SECRET = bytes(range(64, 96))
FINISHED = bytes([20, 0, 0, 32]) + bytes(32)
KEY_UPDATE = bytes([24, 0, 0, 1, 0])


def test_the_key_schedule_is_rfc_8448s() -> None:
    """RFC 8448 section 3: the server's handshake key and IV from its handshake traffic secret."""
    secret = bytes.fromhex("b67b7d690cc16c4e75e54213cb2d37b4e9c912bcded9105d42befd59d391ad38")
    assert expand_label(secret, "key", 16, hashes.SHA256()).hex() == "3fce516009c21727d0f2e4e86ee403bc"
    assert expand_label(secret, "iv", 12, hashes.SHA256()).hex() == "5d313eb2671276ee13000b30"


class _Sealer:
    """The sending side of one direction, written from RFC 8446 section 5.2 on its own."""

    def __init__(self, make: type, key_length: int, algorithm: hashes.HashAlgorithm, secret: bytes) -> None:
        self.make, self.key_length, self.algorithm = make, key_length, algorithm
        self.use(secret)

    def use(self, secret: bytes) -> None:
        self.secret, self.sequence = secret, 0
        self.aead = self.make(expand_label(secret, "key", self.key_length, self.algorithm))
        self.iv = expand_label(secret, "iv", 12, self.algorithm)

    def seal(self, inner_type: int, content: bytes, padding: int = 0) -> tuple[int, bytes]:
        inner = content + bytes([inner_type]) + bytes(padding)
        header = bytes([23, 3, 3]) + (len(inner) + 16).to_bytes(2, "big")
        nonce = bytes(a ^ b for a, b in zip(self.iv, self.sequence.to_bytes(12, "big"), strict=True))
        self.sequence += 1
        return 23, self.aead.encrypt(nonce, inner, header)


SUITES = [(0x1301, AESGCM, 16, hashes.SHA256()), (0x1302, AESGCM, 32, hashes.SHA384()),
          (0x1303, ChaCha20Poly1305, 32, hashes.SHA256()), (0x1304, AESCCM, 16, hashes.SHA256())]


def _side(make: type, key_length: int, algorithm: hashes.HashAlgorithm) -> list[tuple[int, bytes]]:
    """A client's records: hello, compatibility ChangeCipherSpec, Finished under the handshake key,
    two application records, a KeyUpdate, one more record under the next key, and close_notify."""
    sealer = _Sealer(make, key_length, algorithm, HANDSHAKE_SECRET)
    records = [(22, b"\x01\x00\x00\x00"), (20, b"\x01"), sealer.seal(22, FINISHED)]
    sealer.use(TRAFFIC_SECRET)
    records += [sealer.seal(23, b"GET / HTTP/1.1\r\n", padding=7), sealer.seal(23, b"\r\n"),
                sealer.seal(22, KEY_UPDATE)]
    sealer.use(expand_label(TRAFFIC_SECRET, "traffic upd", algorithm.digest_size, algorithm))
    return [*records, sealer.seal(23, b"after the update"), sealer.seal(21, b"\x01\x00")]


@pytest.mark.parametrize(("suite", "make", "key_length", "algorithm"), SUITES)
def test_every_aead_suite_opens_across_a_key_update(suite: int, make: type, key_length: int,
                                                    algorithm: hashes.HashAlgorithm) -> None:
    secrets = {"CLIENT_HANDSHAKE_TRAFFIC_SECRET": HANDSHAKE_SECRET, "CLIENT_TRAFFIC_SECRET_0": TRAFFIC_SECRET}
    opened = open_side(_side(make, key_length, algorithm), suite, secrets, from_client=True)
    assert opened == [(3, b"GET / HTTP/1.1\r\n"), (4, b"\r\n"), (6, b"after the update")]


def test_records_it_cannot_open_are_left_to_scapy() -> None:
    secrets = {"CLIENT_HANDSHAKE_TRAFFIC_SECRET": HANDSHAKE_SECRET, "CLIENT_TRAFFIC_SECRET_0": TRAFFIC_SECRET}
    records = _side(AESGCM, 16, hashes.SHA256())
    with pytest.raises(Unsupported, match="suite 0x1305"):
        open_side(records, 0x1305, secrets, from_client=True)
    with pytest.raises(Unsupported, match="lacks a traffic secret"):
        open_side(records, 0x1301, {"CLIENT_TRAFFIC_SECRET_0": TRAFFIC_SECRET}, from_client=True)
    tampered = list(records)
    kind, body = tampered[4]
    tampered[4] = (kind, body[:-1] + bytes([body[-1] ^ 1]))
    with pytest.raises(Unsupported, match="authentication tag"):
        open_side(tampered, 0x1301, secrets, from_client=True)
    with pytest.raises(Unsupported, match="authentication tag"):  # the server's secrets for the client's side
        open_side(records, 0x1301, {"SERVER_HANDSHAKE_TRAFFIC_SECRET": TRAFFIC_SECRET,
                                    "SERVER_TRAFFIC_SECRET_0": HANDSHAKE_SECRET}, from_client=False)


def _streams(packets: list) -> dict[bool, bytes]:
    """Each side's TCP payload, in order (the vehicle is the client)."""
    streams = {True: b"", False: b""}
    for packet in packets:
        segment = Ether(packet.data)[TCP]
        streams[segment.dport == 443] += bytes(segment.payload)
    return streams


def test_a_real_session_reads_as_scapy_reads_it(tmp_path: Path) -> None:
    """Python's TLS stack with a client certificate (the OTA link's handshake): the same plaintext
    and the same record times from both readers."""
    tls = Tls.made_in(tmp_path)
    conversation = tls.connect(5, 41000)
    request, response = b"GET /ota/v1/campaigns HTTP/1.1\r\n\r\n", b"HTTP/1.1 200 OK\r\n\r\n" + bytes(40000)
    conversation.exchange(request, response).exchange(request, response)
    streams = _streams(conversation.packets)
    records = {side: split_records(streams[side])[0] for side in (True, False)}
    assert server_chose_tls13(records[False])
    keys = parse_keylog(tls.keylog.read_text())  # type: ignore[union-attr]
    random = parse_client_hello(records[True]).random
    secrets = {label: entries[random] for label, entries in keys.secrets.items()}
    suite = server_cipher_suite(records[False])
    assert suite is not None
    direct = {side: open_side([(r.kind, r.body) for r in records[side]], suite, secrets, side)
              for side in (True, False)}
    assert b"".join(c for _, c in direct[True]) == 2 * request
    assert b"".join(c for _, c in direct[False]) == 2 * response
    times = {side: [(r.offset, 1.0 + r.offset) for r in records[side]] for side in (True, False)}
    scapy = _Decryption(records[True], records[False], times[True], times[False], keys).run()
    for side in (True, False):
        assert scapy[side].data == b"".join(c for _, c in direct[side])
        assert [t for _, t in scapy[side].times] == [1.0 + records[side][i].offset for i, _ in direct[side]]
