"""The catch-all: whatever address and port the vehicle reaches in the cloud namespace that no
simulated endpoint serves lands here (the rig's nftables rules redirect it), and is answered enough
that the client sends its payload, as INetSim and FakeNet-NG do.

TCP: accepted and read; TLS (a ClientHello first) completes a handshake with a certificate for the
SNI asked for (or the original address), then the same inside; HTTP gets `200 OK`; anything else is
read until the peer closes. UDP datagrams are received. What the sink receives is never evidence:
the capture at the uplink is; it only counts, for diagnostics."""

from __future__ import annotations

import socket
import socketserver
import ssl
import threading

from harness.scenarios.rig_ca import RigCa
from harness.scenarios.servers import received_chunks

SO_ORIGINAL_DST = 80
HTTP_METHODS = (b"GET ", b"POST", b"PUT ", b"HEAD", b"DELE", b"PATC", b"OPTI", b"CONN")
HTTP_OK = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"


def original_destination(sock: socket.socket) -> str:
    """The address the client connected to, before the redirect (conntrack keeps it)."""
    try:
        raw = sock.getsockopt(socket.SOL_IP, SO_ORIGINAL_DST, 16)
        return socket.inet_ntop(socket.AF_INET, raw[4:8])
    except OSError:
        pass
    try:
        raw = sock.getsockopt(socket.IPPROTO_IPV6, SO_ORIGINAL_DST, 28)
        return socket.inet_ntop(socket.AF_INET6, raw[8:24])
    except OSError:
        return "sink"


class SinkHandler(socketserver.BaseRequestHandler):
    server: TcpSink

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(1.0)
        with self.server.lock:
            self.server.connections += 1
        try:
            first = sock.recv(8, socket.MSG_PEEK)
        except OSError:
            return
        if first[:1] == b"\x16" and self.server.ca is not None:
            tls = self._tls(sock)
            if tls is not None:
                self._serve(tls)
            return
        self._serve(sock)

    def _tls(self, sock: socket.socket) -> ssl.SSLSocket | None:
        assert self.server.ca is not None
        ca, fallback = self.server.ca, original_destination(sock)
        context = ca.server_context(fallback)

        def by_name(tls: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
            tls.context = ca.server_context(name or fallback)

        context.sni_callback = by_name
        try:
            return context.wrap_socket(sock, server_side=True)
        except (OSError, ssl.SSLError):
            return None

    def _serve(self, sock: socket.socket) -> None:
        buffer = b""
        for chunk in received_chunks(sock, self.server.closing):
            with self.server.lock:
                self.server.bytes_received += len(chunk)
            buffer += chunk
            if not buffer.startswith(HTTP_METHODS):
                buffer = b""  # not HTTP: read and forget until the peer closes
                continue
            while b"\r\n\r\n" in buffer:  # one answer per complete request, body skipped by its length
                head, _, rest = buffer.partition(b"\r\n\r\n")
                length = _content_length(head)
                if len(rest) < length:
                    break
                buffer = rest[length:]
                try:
                    sock.sendall(HTTP_OK)
                except OSError:
                    return


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            try:
                return max(0, int(value.strip()))
            except ValueError:
                return 0
    return 0


class TcpSink(socketserver.ThreadingTCPServer):
    """Dual-stack, on every address: IPv4 arrives as mapped IPv6."""

    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int, ca: RigCa | None) -> None:
        self.ca = ca
        self.closing = threading.Event()
        self.lock = threading.Lock()
        self.connections = 0
        self.bytes_received = 0
        super().__init__(("::", port), SinkHandler)

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()

    def shutdown(self) -> None:
        self.closing.set()
        super().shutdown()


class UdpSinkHandler(socketserver.BaseRequestHandler):
    server: UdpSink

    def handle(self) -> None:
        with self.server.lock:
            self.server.datagrams += 1


class UdpSink(socketserver.UDPServer):
    address_family = socket.AF_INET6
    allow_reuse_address = True

    def __init__(self, port: int) -> None:
        self.lock = threading.Lock()
        self.datagrams = 0
        super().__init__(("::", port), UdpSinkHandler)

    def server_bind(self) -> None:
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()
