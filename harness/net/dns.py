"""DNS messages in a capture: which names resolved to which addresses (CNAME chains followed), so
a destination can be attributed by name, and DNS flows judged as carrying no data category.

The wire format is walked here with struct: scapy's DNS layer takes ~600 µs and dnspython ~280 µs
per response on this machine, far too slow for a capture of thousands of lookups; the format is small."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.net.flows import TCP, UDP, Flow
from harness.net.payload_model import FlowPayload, PayloadMessage

DNS_PORTS = (53, 5353, 5355)  # DNS, multicast DNS, LLMNR: all the same message format
A, CNAME, AAAA = 1, 5, 28
_HEADER = struct.Struct("!HHHHHH")


class DnsError(ValueError):
    """Bytes that are not a well-formed DNS message."""


@dataclass
class DnsMessage:
    ident: int
    response: bool
    questions: list[tuple[str, int]] = field(default_factory=list)
    answers: list[tuple[str, int, str]] = field(default_factory=list)  # (owner, type, address or target)


def _name(data: bytes, cursor: int) -> tuple[str, int]:
    """A possibly compressed domain name and the offset just after it where it sits."""
    labels: list[str] = []
    end = -1
    jumps = 0
    length = 0
    while True:
        if cursor >= len(data):
            raise DnsError("name runs past the message")
        size = data[cursor]
        if size & 0xC0 == 0xC0:
            if cursor + 1 >= len(data):
                raise DnsError("compression pointer cut off")
            if end < 0:
                end = cursor + 2
            jumps += 1
            if jumps > 64:
                raise DnsError("compression pointer loop")
            cursor = ((size & 0x3F) << 8) | data[cursor + 1]
            continue
        if size & 0xC0:
            raise DnsError(f"unsupported label type 0x{size:02x}")
        if size == 0:
            return ".".join(labels).lower(), (end if end >= 0 else cursor + 1)
        label = data[cursor + 1:cursor + 1 + size]
        if len(label) < size:
            raise DnsError("label runs past the message")
        length += size + 1
        if length > 255:
            raise DnsError("name longer than 255 bytes")
        labels.append(label.decode("ascii", "backslashreplace"))
        cursor += size + 1


def parse_dns(data: bytes) -> DnsMessage:
    if len(data) < 12:
        raise DnsError(f"{len(data)} bytes, shorter than a DNS header")
    ident, flags, questions, answers, authority, additional = _HEADER.unpack_from(data, 0)
    if (flags >> 11) & 0xF > 6:  # opcodes above 6 are unassigned
        raise DnsError(f"unassigned opcode {(flags >> 11) & 0xF}")
    message = DnsMessage(ident, bool(flags & 0x8000))
    cursor = 12
    for _ in range(questions):
        name, cursor = _name(data, cursor)
        if cursor + 4 > len(data):
            raise DnsError("question cut off")
        message.questions.append((name, struct.unpack_from("!H", data, cursor)[0]))
        cursor += 4
    for index in range(answers + authority + additional):
        owner, cursor = _name(data, cursor)
        if cursor + 10 > len(data):
            raise DnsError("resource record cut off")
        kind, _cls, _ttl, size = struct.unpack_from("!HHIH", data, cursor)
        cursor += 10
        rdata = data[cursor:cursor + size]
        if len(rdata) < size:
            raise DnsError("record data cut off")
        if index < answers:
            if kind == A and size == 4 or kind == AAAA and size == 16:
                message.answers.append((owner, kind, str(ipaddress.ip_address(rdata))))
            elif kind == CNAME:
                message.answers.append((owner, kind, _name(data, cursor)[0]))
        cursor += size
    return message


def messages_of(flow: Flow, from_client: bool | None = None) -> Iterable[tuple[float, bool, bytes]]:
    """(time, from client, message bytes) of a DNS flow, UDP datagrams or TCP length-prefixed messages."""
    if flow.protocol == UDP:
        for time, to_server, data in flow.datagrams:
            if from_client is None or to_server == from_client:
                yield time, to_server, data
        return
    for side in (True, False) if from_client is None else (from_client,):
        stream, _, times = flow.direction(side).stream_with_times()
        cursor = 0
        while cursor + 2 <= len(stream):
            size = struct.unpack_from("!H", stream, cursor)[0]
            yield (times[0][1] if times else 0.0), side, stream[cursor + 2:cursor + 2 + size]
            cursor += 2 + size


def is_dns_flow(flow: Flow) -> bool:
    return flow.protocol in (UDP, TCP) and (flow.server.port in DNS_PORTS or flow.client.port in DNS_PORTS)


@dataclass
class DnsNames:
    """Names per address from every DNS answer in the capture (queried name, CNAMEs and the owner)."""

    by_address: dict[str, set[str]] = field(default_factory=dict)
    responses: int = 0
    malformed: int = 0

    def add(self, message: DnsMessage) -> None:
        if not message.response:
            return
        self.responses += 1
        aliases: dict[str, set[str]] = {}  # target -> names that CNAME to it
        for owner, kind, value in message.answers:
            if kind == CNAME:
                aliases.setdefault(value, set()).add(owner)
        asked = {name for name, _ in message.questions}
        for owner, kind, value in message.answers:
            if kind == CNAME:
                continue
            names, todo = {owner}, [owner]
            while todo:  # every name whose CNAME chain ends at this owner
                for alias in aliases.get(todo.pop(), ()):
                    if alias not in names:
                        names.add(alias)
                        todo.append(alias)
            if not names & asked and len(asked) == 1:
                names |= asked  # an answer to a single question belongs to that question
            self.by_address.setdefault(value, set()).update(n for n in names if n)

    def names_of(self, address: str) -> tuple[str, ...]:
        return tuple(sorted(self.by_address.get(address, ())))


def collect_names(flows: Iterable[Flow]) -> DnsNames:
    names = DnsNames()
    for flow in flows:
        if not is_dns_flow(flow):
            continue
        for _time, _side, data in messages_of(flow):
            try:
                names.add(parse_dns(data))
            except (DnsError, struct.error, ValueError):
                names.malformed += 1
    return names


def decode_dns(flow: Flow, from_client: bool = True) -> FlowPayload:
    """DNS messages one side sent: queries and answers carry no data category, but each must parse."""
    result = FlowPayload("dns", infrastructure=True)
    names: set[str] = set()
    for time, _side, data in messages_of(flow, from_client):
        try:
            message = parse_dns(data)
        except (DnsError, struct.error, ValueError) as exc:
            result.undecodable(f"{len(data)} bytes that are not DNS: {exc}")
            continue
        asked = [name for name, _ in message.questions]
        names.update(asked)
        kind = "response" if message.response else "query"
        result.add(PayloadMessage(time, "dns", frozenset(), None, f"{kind} {', '.join(asked)[:80]}"))
    shown = ", ".join(sorted(names)[:3]) + (" ..." if len(names) > 3 else "")
    result.detail = f"{result.messages} DNS messages" + (f" ({shown})" if shown else "")
    return result
