"""HTTP/1.1 messages from one direction of a reassembled stream: requests or responses, bodies
de-chunked and decompressed (gzip, deflate), then classified into data categories.

Message framing follows RFC 9112 section 6 and is written here because the maintained HTTP/1.1
libraries (h11, http.client) are connection state machines for live sockets that cannot be fed one
captured direction on its own; decompression is zlib's and multipart parsing the email package's."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from ipaddress import ip_address
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from harness.net.classify import Classification, categories_of_keys, classify_body, classify_form
from harness.net.payload_model import FlowPayload, PayloadMessage, StreamClock

METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"OPTIONS ", b"CONNECT ", b"TRACE ")
MAX_HEAD = 64 * 1024            # a header block larger than this is not HTTP we can trust
MAX_BODY = 64 * 1024 * 1024     # decompressed; beyond it a body is reported, not inflated further


@dataclass
class HttpMessage:
    offset: int
    start_line: str
    headers: list[tuple[str, str]]
    body: bytes = b""
    problems: list[str] = field(default_factory=list)

    @property
    def is_request(self) -> bool:
        return not self.start_line.startswith("HTTP/")

    @property
    def method(self) -> str:
        return self.start_line.split(" ", 1)[0] if self.is_request else ""

    @property
    def target(self) -> str:
        parts = self.start_line.split(" ")
        return parts[1] if self.is_request and len(parts) > 1 else ""

    @property
    def status(self) -> int:
        parts = self.start_line.split(" ")
        return int(parts[1]) if not self.is_request and len(parts) > 1 and parts[1].isdigit() else 0

    def header(self, name: str) -> str:
        values = [v for k, v in self.headers if k == name]
        return ", ".join(values)


def looks_like_http(stream: bytes) -> bool:
    return stream.startswith(METHODS) or stream.startswith(b"HTTP/1.")


def parse_messages(stream: bytes, request_methods: list[str] | None = None) -> tuple[list[HttpMessage], str | None]:
    """All complete messages of one direction, and what stopped the parse early (None: clean end).

    `request_methods` are the methods of the other direction's requests, in order, which decide
    whether a response has a body (HEAD) or is a tunnel (CONNECT)."""
    messages: list[HttpMessage] = []
    offset, pending = 0, list(request_methods or [])
    while offset < len(stream):
        end = stream.find(b"\r\n\r\n", offset, offset + MAX_HEAD)
        if end < 0:
            what = "an incomplete header block" if len(stream) - offset < MAX_HEAD else "an oversized header block"
            return messages, f"stream ends in {what} at byte {offset}"
        try:
            lines = stream[offset:end].decode("latin-1").split("\r\n")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes every byte
            return messages, f"undecodable header block at byte {offset}"
        message = HttpMessage(offset, lines[0], [])
        if not _valid_start(lines[0]):
            return messages, f"not an HTTP/1.x message at byte {offset}: {lines[0][:60]!r}"
        for line in lines[1:]:
            name, colon, value = line.partition(":")
            if not colon or not name or name != name.strip():
                return messages, f"malformed header line at byte {offset}: {line[:60]!r}"
            message.headers.append((name.lower(), value.strip()))
        cursor = end + 4
        method = pending.pop(0) if not message.is_request and pending else ""
        if message.is_request:
            framing, length = _request_framing(message)
        else:
            framing, length = _response_framing(message, method)
            if 100 <= message.status < 200 and message.status != 101:
                pending.insert(0, method)  # an interim response: the final one answers the same request
        if framing == "error":
            return messages, f"{message.start_line[:60]!r}: {length}"
        if framing == "length":
            body, cursor = stream[cursor:cursor + int(length)], cursor + int(length)
            if len(body) < int(length):
                message.problems.append(f"body cut off ({len(body)} of {length} bytes)")
        elif framing == "chunked":
            body, cursor, problem = _dechunk(stream, cursor)
            if problem:
                message.problems.append(problem)
        elif framing == "close":
            body, cursor = stream[cursor:], len(stream)
        else:  # tunnel or protocol switch: what follows is not HTTP
            messages.append(message)
            rest = len(stream) - cursor
            return messages, (f"{rest} bytes after {message.start_line[:40]!r} in another protocol" if rest else None)
        message.body = _decode_content(body, message.header("content-encoding"), message.problems)
        messages.append(message)
        offset = cursor
    return messages, None


def _valid_start(line: str) -> bool:
    if line.startswith("HTTP/1."):
        parts = line.split(" ", 2)
        return len(parts) >= 2 and parts[1].isdigit() and len(parts[1]) == 3
    parts = line.split(" ")
    return len(parts) == 3 and parts[2].startswith("HTTP/1.") and (parts[0] + " ").encode("latin-1") in METHODS


def _request_framing(message: HttpMessage) -> tuple[str, int | str]:
    coding = message.header("transfer-encoding").lower()
    if coding:
        if coding.rsplit(",", 1)[-1].strip() != "chunked":
            return "error", f"request transfer coding {coding!r} has no length"
        return "chunked", 0
    if message.method == "CONNECT":
        return "tunnel", 0
    return _content_length(message)


def _response_framing(message: HttpMessage, method: str) -> tuple[str, int | str]:
    status = message.status
    if method == "HEAD" or 100 <= status < 200 and status != 101 or status in (204, 304):
        return "length", 0
    if status == 101 or method == "CONNECT" and 200 <= status < 300:
        return "tunnel", 0
    coding = message.header("transfer-encoding").lower()
    if coding:
        return ("chunked", 0) if coding.rsplit(",", 1)[-1].strip() == "chunked" else ("close", 0)
    if message.header("content-length"):
        return _content_length(message)
    return "close", 0


def _content_length(message: HttpMessage) -> tuple[str, int | str]:
    values = {v.strip() for v in message.header("content-length").split(",") if v.strip()}
    if not values:
        return "length", 0
    if len(values) > 1 or not next(iter(values)).isdigit():
        return "error", f"invalid Content-Length {message.header('content-length')!r}"
    return "length", int(next(iter(values)))


def _dechunk(stream: bytes, cursor: int) -> tuple[bytes, int, str | None]:
    chunks: list[bytes] = []
    total = 0
    while True:
        line_end = stream.find(b"\r\n", cursor, cursor + 1024)
        if line_end < 0:
            return b"".join(chunks), len(stream), "chunked body cut off or malformed (no chunk size line)"
        size_text = stream[cursor:line_end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            return b"".join(chunks), len(stream), f"malformed chunk size {size_text[:20]!r}"
        cursor = line_end + 2
        if size == 0:
            trailer_end = stream.find(b"\r\n", cursor)
            while trailer_end > cursor:  # trailer fields, up to the empty line
                cursor = trailer_end + 2
                trailer_end = stream.find(b"\r\n", cursor)
            if trailer_end < 0:
                return b"".join(chunks), len(stream), "chunked body cut off in its trailer"
            return b"".join(chunks), trailer_end + 2, None
        chunk = stream[cursor:cursor + size]
        chunks.append(chunk)
        total += len(chunk)
        if len(chunk) < size:
            return b"".join(chunks), len(stream), f"chunked body cut off ({total} bytes received)"
        if stream[cursor + size:cursor + size + 2] != b"\r\n":
            return b"".join(chunks), len(stream), "chunk not followed by CRLF"
        cursor += size + 2


def _decode_content(body: bytes, encoding: str, problems: list[str]) -> bytes:
    """The body with its content codings undone (last applied first); problems say what could not be."""
    for coding in reversed([c.strip().lower() for c in encoding.split(",") if c.strip()]):
        if coding == "identity":
            continue
        if coding == "br":
            body = _unbrotli(body, problems)
            continue
        if coding not in ("gzip", "x-gzip", "deflate"):
            problems.append(f"content coding {coding!r} not decoded")
            return body
        try:
            if coding == "deflate" and body[:1] and (body[0] & 0x0F) != 8:
                inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate, as some servers send it
            else:
                inflater = zlib.decompressobj(zlib.MAX_WBITS | (16 if coding != "deflate" else 0))
            body = inflater.decompress(body, MAX_BODY)
            if inflater.unconsumed_tail:
                problems.append(f"{coding} body inflates beyond {MAX_BODY // 2**20} MB; rest not inspected")
            elif not inflater.eof:
                problems.append(f"{coding} body is truncated")
        except zlib.error as exc:
            problems.append(f"broken {coding} body: {exc}")
            return body
    return body


def _unbrotli(body: bytes, problems: list[str]) -> bytes:
    """Brotli has no magic bytes: it is undone only where Content-Encoding says so."""
    import brotli

    inflater = brotli.Decompressor()
    try:
        out = inflater.process(body, output_buffer_limit=MAX_BODY)
    except brotli.error as exc:
        problems.append(f"broken br body: {exc}")
        return body
    if len(out) >= MAX_BODY:
        problems.append(f"br body inflates beyond {MAX_BODY // 2**20} MB; rest not inspected")
    elif not inflater.is_finished():
        problems.append("br body is truncated")
    return bytes(out)


def decode_http(stream: bytes, clock: StreamClock, request_methods: list[str] | None = None,
                protocol: str = "http") -> FlowPayload:
    """One direction's HTTP messages as a FlowPayload: names from Host, categories from query keys
    and bodies; anything cut off, malformed or encoded beyond reading makes it undecodable."""
    result = FlowPayload(protocol)
    messages, stopped = parse_messages(stream, request_methods)
    for message in messages:
        names: list[str] = []
        categories: set[str] = set()
        if message.is_request:
            host = _host_name(message.header("host"))
            if host:
                result.names.add(host)
            try:
                target = urlsplit(message.target)
            except ValueError:  # e.g. an absolute-form target with a broken IPv6 host
                result.undecodable(f"{message.start_line[:48]}: request target cannot be parsed")
                target = urlsplit("")
            query = parse_qsl(target.query, keep_blank_values=True)
            categories |= categories_of_keys(k for k, _ in query)
            names = [unquote(p) for p in target.path.split("/") if p]
        classified = _classify(message, names)
        categories |= classified.categories
        for problem in message.problems + classified.unknown:
            result.undecodable(f"{message.start_line[:48]}: {problem}")
        result.add(PayloadMessage(clock.at(message.offset), protocol, frozenset(categories), classified.location,
                                  message.start_line[:80]), _parts(message))
    if stopped:
        result.undecodable(stopped)
    kind = "request" if not messages or messages[0].is_request else "response"
    result.detail = f"{len(messages)} HTTP {kind}{'' if len(messages) == 1 else 's'}"
    return result


def _parts(message: HttpMessage) -> tuple[tuple[bytes, str], ...]:
    """What a message is made of, for the ground-truth search: target, header values, body."""
    head = "\n".join(f"{k}: {v}" for k, v in message.headers if k != "host").encode("latin-1", "replace")
    parts = [(message.target.encode("latin-1", "replace"), "request target")] if message.is_request else []
    return (*parts, (head, "headers"), (message.body, "body"))


def _classify(message: HttpMessage, names: list[str]) -> Classification:
    content_type = message.header("content-type")
    if content_type.lower().startswith("multipart/"):
        return _multipart(message.body, content_type, names)
    return classify_body(message.body, names, content_type)


def _multipart(body: bytes, content_type: str, names: list[str]) -> Classification:
    result = Classification()
    parsed = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n"
                                                 + body)
    if not parsed.is_multipart() or parsed.defects:
        result.unknown.append("malformed multipart body")
        return result
    for part in parsed.iter_parts():
        field_name = part.get_param("name", header="content-disposition") or ""
        file_name = part.get_filename() or ""
        part_names = [*names, str(field_name), str(file_name)]
        result.categories |= categories_of_keys([str(field_name)])
        payload = part.get_payload(decode=True)
        payload = payload if isinstance(payload, bytes) else b""
        if not file_name and part.get_content_type() == "text/plain":
            # a plain form field: its name says what it is, as in a urlencoded form
            inner = classify_form(urlencode({str(field_name): payload.decode("utf-8", "replace")}).encode(),
                                  names)
        else:
            inner = classify_body(payload, part_names, part.get_content_type())
        result.categories |= inner.categories
        result.unknown += [f"part {field_name or file_name or '?'}: {u}" for u in inner.unknown]
        result.location = result.location or inner.location
        result.images += inner.images
    return result


def _host_name(host: str) -> str:
    """The name in a Host header; empty for an address literal, which names nothing."""
    host = host.strip().lower()
    if host.startswith("["):
        return ""
    name = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    try:
        ip_address(name)
        return ""
    except ValueError:
        return name.rstrip(".")
