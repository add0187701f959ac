"""TLS in a flow: the server name (SNI) and client random from the ClientHello, whether application
data was sent, and its plaintext when an NSS key log holds the session's secrets (TLS 1.2 and 1.3).

Records and the ClientHello are walked here with struct (every TLS flow needs them, and a scapy
dissection per flow would cost more than the whole pre-pass). TLS 1.3 with an AEAD suite is opened
record by record with the key log's traffic secrets (`tls13_records`); everything else by scapy's
TLS layer, given its own session object with the key log, so scapy's global `conf` is never touched."""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.net.flows import Flow
from harness.net.keylog import KeyLog
from harness.net.payload_model import FlowPayload, StreamClock
from harness.net.tls13_records import Unsupported, open_side

HANDSHAKE, APPLICATION_DATA, CHANGE_CIPHER_SPEC, ALERT = 22, 23, 20, 21
# A TLS 1.3 client's only encrypted handshake record is its Finished: 4-byte header, a hash of at most
# 48 bytes, the inner content type and a 16-byte tag. Anything larger, or more records, is data.
_TLS13_CLIENT_FINISHED_MAX = 4 + 48 + 1 + 16


@dataclass
class TlsRecord:
    offset: int
    kind: int
    version: int
    body: bytes


@dataclass
class Hello:
    random: bytes = b""
    sni: str = ""
    tls13: bool = False   # ServerHello chose TLS 1.3 (supported_versions)


@dataclass
class Plaintext:
    """Decrypted application data of one side: the stream and the capture time of its offsets."""

    data: bytes = b""
    times: list[tuple[int, float]] = field(default_factory=list)

    def append(self, chunk: bytes, time: float) -> None:
        self.times.append((len(self.data), time))
        self.data += chunk


def looks_like_tls(stream: bytes) -> bool:
    return len(stream) >= 6 and stream[0] == HANDSHAKE and stream[1] == 3 and stream[2] <= 4 and stream[5] in (1, 2)


def split_records(stream: bytes) -> tuple[list[TlsRecord], str | None]:
    records: list[TlsRecord] = []
    offset = 0
    while offset < len(stream):
        if offset + 5 > len(stream):
            return records, f"stream ends inside a record header at byte {offset}"
        kind, version, length = stream[offset], (stream[offset + 1] << 8) | stream[offset + 2], \
            (stream[offset + 3] << 8) | stream[offset + 4]
        if kind not in (HANDSHAKE, APPLICATION_DATA, CHANGE_CIPHER_SPEC, ALERT, 24) or version >> 8 != 3:
            return records, f"not a TLS record at byte {offset}"
        if length > 16384 + 2048:
            return records, f"record at byte {offset} longer than TLS allows ({length} bytes)"
        if offset + 5 + length > len(stream):
            return records, f"record at byte {offset} is cut off"
        records.append(TlsRecord(offset, kind, version, stream[offset + 5:offset + 5 + length]))
        offset += 5 + length
    return records, None


def _handshake_messages(records: list[TlsRecord]) -> list[tuple[int, bytes]]:
    """Leading plaintext handshake messages (before any encryption), which may span records."""
    data = b"".join(r.body for r in _leading(records, HANDSHAKE))
    messages, cursor = [], 0
    while cursor + 4 <= len(data):
        size = int.from_bytes(data[cursor + 1:cursor + 4], "big")
        if cursor + 4 + size > len(data):
            break
        messages.append((data[cursor], data[cursor + 4:cursor + 4 + size]))
        cursor += 4 + size
    return messages


def _leading(records: list[TlsRecord], kind: int) -> list[TlsRecord]:
    out = []
    for record in records:
        if record.kind != kind:
            break
        out.append(record)
    return out


def _extensions(body: bytes, cursor: int) -> dict[int, bytes]:
    found: dict[int, bytes] = {}
    if cursor + 2 > len(body):
        return found
    end = min(len(body), cursor + 2 + struct.unpack_from("!H", body, cursor)[0])
    cursor += 2
    while cursor + 4 <= end:
        kind, size = struct.unpack_from("!HH", body, cursor)
        found[kind] = body[cursor + 4:cursor + 4 + size]
        cursor += 4 + size
    return found


def parse_client_hello(records: list[TlsRecord]) -> Hello:
    hello = Hello()
    for kind, body in _handshake_messages(records):
        if kind != 1 or len(body) < 38:
            continue
        hello.random = body[2:34]
        cursor = 34
        cursor += 1 + body[cursor]                                          # session id
        cursor += 2 + struct.unpack_from("!H", body, cursor)[0] if cursor + 2 <= len(body) else 0  # suites
        cursor += 1 + body[cursor] if cursor < len(body) else 0             # compression methods
        server_name = _extensions(body, cursor).get(0, b"")
        if len(server_name) >= 5 and server_name[2] == 0:                   # list length, type host_name
            size = struct.unpack_from("!H", server_name, 3)[0]
            hello.sni = server_name[5:5 + size].decode("ascii", "replace").lower().rstrip(".")
        break
    return hello


def server_chose_tls13(records: list[TlsRecord]) -> bool:
    for kind, body in _handshake_messages(records):
        if kind != 2 or len(body) < 38:
            continue
        cursor = 34
        cursor += 1 + body[cursor] + 2 + 1                                  # session id, suite, compression
        chosen = _extensions(body, cursor).get(43, b"")
        return chosen == b"\x03\x04"
    return False


def server_cipher_suite(records: list[TlsRecord]) -> int | None:
    """The cipher suite the ServerHello chose."""
    for kind, body in _handshake_messages(records):
        if kind == 2 and len(body) >= 38:
            cursor = 35 + body[34]
            return int.from_bytes(body[cursor:cursor + 2], "big") if cursor + 2 <= len(body) else None
    return None


def sends_application_data(records: list[TlsRecord], from_client: bool, tls13: bool) -> int:
    """How many records of this side carry (or may carry) application data, without decrypting."""
    data = [r for r in records if r.kind == APPLICATION_DATA]
    if tls13 and from_client and data and len(data[0].body) <= _TLS13_CLIENT_FINISHED_MAX:
        data = data[1:]  # the first is the client's Finished
    return len(data)


@dataclass
class TlsSession:
    """One TLS flow read once for every reader (the payload decoders, the OTA exchanges): records,
    ClientHello, the version chosen, and both sides' plaintext where the key log opens the session."""

    records: dict[bool, tuple[list[TlsRecord], str | None]]
    times: dict[bool, list[tuple[int, float]]]
    hello: Hello
    tls13: bool
    keys: KeyLog | None
    _plain: dict[bool, Plaintext] | str | None = None
    _opening: bytes | str | None = None
    _decryption: _Decryption | None = None

    @property
    def version(self) -> str:
        return "TLS 1.3" if self.tls13 else "TLS"

    def data_records(self, from_client: bool) -> int:
        return sends_application_data(self.records[from_client][0], from_client, self.tls13)

    def secrets(self) -> str | None:
        """"1.2" or "1.3" when the key log holds this session's secrets."""
        if self.keys is None or not self.hello.random:
            return None
        return self.keys.has_session(self.hello.random)

    def plaintext(self) -> dict[bool, Plaintext] | str:
        """Both sides' application data (True: the client's), or why it cannot be read."""
        if self._plain is None:
            self._plain = self._read()
        return self._plain

    def opening(self) -> bytes | str:
        """The client's first application data, or why it cannot be read: enough to tell the protocol,
        for a fraction of decrypting a long session (records decrypt in order, so the rest is skipped)."""
        if self._plain is not None:
            return self._plain if isinstance(self._plain, str) else self._plain[True].data
        if self._opening is None:
            read = self._read(opening=True)
            self._opening = read if isinstance(read, str) else read[True].data
        return self._opening

    def _read(self, opening: bool = False) -> dict[bool, Plaintext] | str:
        if self.keys is None:
            return "no key log given"
        if self.secrets() is None:
            return "the key log holds no secret for this session"
        if self.tls13 and self._decryption is None:
            direct = self._open_directly()
            if direct is not None:
                self._plain = direct  # both sides at once: as cheap as the opening alone
                return direct
        try:
            if self._decryption is None:
                self._decryption = _Decryption(self.records[True][0], self.records[False][0], self.times[True],
                                               self.times[False], self.keys)
            if self._decryption.failed is None:
                return self._decryption.run(opening)
        except Exception as exc:  # noqa: BLE001 - a record scapy cannot decrypt means: not decoded, whatever the cause
            failed = f"decryption failed: {type(exc).__name__}: {str(exc)[:120]}"
            if self._decryption is None:
                return failed
            self._decryption.failed = failed  # the replay is out of step from here: it never resumes
        return self._decryption.failed or "decryption failed"

    def _open_directly(self) -> dict[bool, Plaintext] | None:
        """Both sides' application data through the direct TLS 1.3 record layer, or None where that
        does not apply (scapy's TLS layer then reads the session)."""
        assert self.keys is not None
        suite = server_cipher_suite(self.records[False][0])
        secrets = {label: entries[self.hello.random] for label, entries in self.keys.secrets.items()
                   if self.hello.random in entries}
        plain: dict[bool, Plaintext] = {}
        try:
            for side in (True, False):
                records = self.records[side][0]
                opened = open_side([(r.kind, r.body) for r in records], suite or 0, secrets, side)
                clock, plain[side] = StreamClock(self.times[side]), Plaintext()
                for index, content in opened:
                    plain[side].append(content, clock.at(records[index].offset))
        except Unsupported:
            return None
        return plain


def tls_session(flow: Flow) -> TlsSession:
    """The flow's TLS session, cached on the flow (decryption is the dear part)."""
    key = ("tls-session", flow.packets)
    cached = flow.cache.get(key)
    if cached is None:
        streams = {side: flow.direction(side).stream_with_times() for side in (True, False)}
        records = {side: split_records(streams[side][0]) for side in (True, False)}
        cached = flow.cache[key] = TlsSession(records, {side: streams[side][2] for side in (True, False)},
                                              parse_client_hello(records[True][0]),
                                              server_chose_tls13(records[False][0]), flow.keys)
    return cached  # type: ignore[no-any-return]


def decode_tls(flow: Flow, from_client: bool,
               inner: Callable[[bytes, StreamClock, Callable[[], bytes]], FlowPayload]) -> FlowPayload:
    """A TLS flow as seen from one side; `inner(plaintext, clock, peer)` decodes the application
    protocol when the key log can decrypt the session (`peer()` gives the other side's plaintext)."""
    session = tls_session(flow)
    hello = session.hello
    result = FlowPayload("tls")
    if hello.sni:
        result.names.add(hello.sni)
    problem = session.records[from_client][1]
    version = session.version
    to = f" to {hello.sni}" if hello.sni else ""
    data_records = session.data_records(from_client)
    if problem:
        result.undecodable(problem)
    if not data_records:
        result.detail = f"{version} handshake{to}, no application data"
        return result
    plain = session.plaintext()
    if isinstance(plain, str):
        if plain.startswith("decryption failed"):
            result.undecodable(plain)
        else:
            plural = "s" if data_records != 1 else ""
            result.undecodable(f"{data_records} encrypted application data record{plural}{to}; {plain}")
        result.detail = f"{version}{to}"
        return result
    peer = plain[not from_client].data
    decoded = inner(plain[from_client].data, StreamClock(plain[from_client].times), lambda: peer)
    decoded.names |= result.names
    for why in result.problems:
        decoded.undecodable(why)
    decoded.detail = f"TLS {session.secrets()}{to}, decrypted: {decoded.detail}"
    return decoded


class _Decryption:
    """Both sides' records replayed, in capture order, through one scapy TLS session holding the keys;
    it may stop at the client's first application data and carry on from there later."""

    def __init__(self, client: list[TlsRecord], server: list[TlsRecord], client_times: list[tuple[int, float]],
                 server_times: list[tuple[int, float]], keys: KeyLog) -> None:
        from scapy.layers.tls import handshake, keyexchange_tls13, record_tls13  # noqa: F401 - registers the layers
        from scapy.layers.tls.session import tlsSession

        clocks = {True: StreamClock(client_times), False: StreamClock(server_times)}
        self._ordered = sorted([(clocks[True].at(r.offset), 0, i, True, r) for i, r in enumerate(client)]
                               + [(clocks[False].at(r.offset), 1, i, False, r) for i, r in enumerate(server)],
                               key=lambda item: item[:3])
        self._next = 0
        self._session: Any = tlsSession(connection_end="server")
        self._session.nss_keys = keys.secrets
        self.plain = {True: Plaintext(), False: Plaintext()}
        self.failed: str | None = None

    def run(self, opening: bool = False) -> dict[bool, Plaintext]:
        from scapy.layers.tls.record import TLS, TLSApplicationData, _TLSEncryptedContent
        from scapy.packet import Raw

        while self._next < len(self._ordered) and not (opening and self.plain[True].data):
            time, _order, _index, from_client, record = self._ordered[self._next]
            self._next += 1
            raw = bytes([record.kind]) + record.version.to_bytes(2, "big") + len(record.body).to_bytes(2, "big") \
                + record.body
            session = self._session
            packet = TLS(raw, tls_session=session if from_client else session.mirror(), strict_integrity=True)
            self._session = packet.tls_session if from_client else packet.tls_session.mirror()
            if record.kind != APPLICATION_DATA:
                continue
            messages = packet.inner.msg if hasattr(packet, "inner") and packet.inner is not None else packet.msg
            for message in messages:
                if isinstance(message, TLSApplicationData):
                    self.plain[from_client].append(bytes(message.data), time)
                elif isinstance(message, _TLSEncryptedContent | Raw):
                    raise ValueError(f"record at byte {record.offset} stayed encrypted")
        return self.plain
