"""Running a socketserver inside the cloud namespace, in a thread the rig owns.

The listening socket is opened inside the namespace and keeps it; everything else about the
server is ordinary socketserver code."""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from http.server import BaseHTTPRequestHandler
from typing import Any, TypeVar

from harness.errors import RigError
from harness.rig.netns import entered

ServerT = TypeVar("ServerT", bound=socketserver.BaseServer)


class ThreadedServers:
    """Starts servers in threads and shuts every one of them down on close()."""

    def __init__(self, namespace: str | None) -> None:
        self.namespace = namespace
        self._servers: list[tuple[str, socketserver.BaseServer, threading.Thread]] = []
        self._others: list[Callable[[], None]] = []

    def adopt(self, close: Callable[[], None]) -> None:
        """A server of another kind (a broker process) that stops with these: "the cloud" is all of them."""
        self._others.append(close)

    def start(self, factory: Callable[[], ServerT], name: str) -> ServerT:
        try:
            with entered(self.namespace) if self.namespace else nullcontext():
                server = factory()
        except OSError as exc:
            raise RigError(f"simulated {name} could not listen: {exc.strerror or exc}") from None
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"cloud-{name}", daemon=True)
        thread.start()
        self._servers.append((name, server, thread))
        return server

    def stop(self, name: str) -> int:
        """Stop the servers started under `name` or `name (...)`, the others keep serving (a fault a test
        injects: one service of the cloud goes down). Returns how many stopped."""
        stopping = [s for s in self._servers if s[0] == name or s[0].startswith(f"{name} (")]
        for entry in stopping:
            _shut(entry[1], entry[2])
            self._servers.remove(entry)
        return len(stopping)

    def close(self) -> None:
        for _, server, thread in self._servers:
            _shut(server, thread)
        self._servers.clear()
        for close in self._others:
            close()
        self._others.clear()


class EitherFamily(socketserver.BaseServer):
    """A TCP server that listens on an IPv6 address as readily as on an IPv4 one (the stdlib's
    servers are IPv4 unless told otherwise)."""

    address_family: int = socket.AF_INET

    def __init__(self, server_address: Any, handler: Any, bind_and_activate: bool = True) -> None:
        if ":" in str(server_address[0]):
            self.address_family = socket.AF_INET6
        super().__init__(server_address, handler, bind_and_activate)  # type: ignore[call-arg]


def _shut(server: socketserver.BaseServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=2)


class TlsAccepting(socketserver.BaseServer):
    """A server whose connections are TLS when `tls` is set, the handshake in the handler's thread."""

    tls: ssl.SSLContext | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:
            request = tls_accept(self.tls, request)
            if request is None:
                return
        super().finish_request(request, client_address)


class ReusableTCPServer(EitherFamily, TlsAccepting, socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False


def tls_accept(context: ssl.SSLContext, sock: socket.socket) -> ssl.SSLSocket | None:
    """The server side of a handshake; a client that fails it (no certificate, wrong CA) is dropped."""
    sock.settimeout(5.0)  # a client that stalls the handshake does not hold the thread for ever
    try:
        tls = context.wrap_socket(sock, server_side=True)
    except (OSError, ssl.SSLError):
        sock.close()
        return None
    tls.settimeout(None)  # then as without TLS: the handler sets its own timeouts
    return tls


class JsonHandler(BaseHTTPRequestHandler):
    """An HTTP/1.1 service with keep-alive that answers in JSON and keeps quiet on stderr."""

    protocol_version = "HTTP/1.1"
    # headers and body go out in separate writes: with Nagle's algorithm the body waits for the
    # client's delayed ACK of the headers (40 ms a response on Linux), a poll's whole cost
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        return  # the capture is the record; stderr noise helps nobody

    def send_json(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def received_chunks(sock: socketserver.socket.socket, closing: threading.Event,  # type: ignore[name-defined]
                    size: int = 65536) -> Iterator[bytes]:
    """What a peer sends, chunk by chunk, until it closes, the socket fails or `closing` is set.

    The socket needs a timeout so that `closing` is looked at between reads."""
    while not closing.is_set():
        try:
            chunk = sock.recv(size)
        except TimeoutError:
            continue
        except OSError:
            return
        if not chunk:
            return
        yield chunk
