"""What TLS costs the virtual rig per connection: a fresh connection that sends one HTTP request and
reads the answer, plain TCP (the baseline, measured in the same run) against TLS 1.3 with the rig CA's
EC P-256 certificates, with and without the vehicle's client certificate (mutual TLS), and with the
NSS key log written. Loopback inside one process, so the figures are CPU cost, not network.

    .venv/bin/python bench/tls_handshake.py [--connections 300]"""

from __future__ import annotations

import argparse
import socket
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from harness.scenarios.rig_ca import RigCa
from harness.scenarios.servers import tls_accept

REQUEST = b"POST /v1/x HTTP/1.1\r\nHost: bench.example.cn\r\nContent-Length: 2\r\n\r\n{}"
ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


def _server(context: ssl.SSLContext | None) -> tuple[socket.socket, threading.Event]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                sock, _ = listener.accept()
            except TimeoutError:
                continue
            conn: socket.socket | None = sock if context is None else tls_accept(context, sock)
            if conn is None:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(ANSWER)

    threading.Thread(target=serve, daemon=True).start()
    return listener, stop


def _time(port: int, wrap: Callable[[socket.socket], socket.socket], connections: int) -> list[float]:
    times = []
    for _ in range(connections):
        start = time.perf_counter()
        with wrap(socket.create_connection(("127.0.0.1", port))) as sock:
            sock.sendall(REQUEST)
            sock.recv(4096)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=300)
    args = parser.parse_args()
    connections = max(10, min(args.connections, 5000))  # bounded in count
    with tempfile.TemporaryDirectory() as tmp:
        ca = RigCa(Path(tmp) / "ca")
        vehicle = ca.vehicle_material("LHVTEST0000000001")
        cases: list[tuple[str, ssl.SSLContext | None, Callable[[socket.socket], socket.socket]]] = []
        cases.append(("plain TCP (baseline)", None, lambda s: s))
        server = ca.server_context("bench.example.cn")
        client = ssl.create_default_context(cafile=str(vehicle / "ca.pem"))
        cases.append(("TLS 1.3, server certificate", server,
                      lambda s: client.wrap_socket(s, server_hostname="bench.example.cn")))
        mutual_server = ca.server_context("bench.example.cn", require_client=True)
        mutual = ssl.create_default_context(cafile=str(vehicle / "ca.pem"))
        mutual.load_cert_chain(vehicle / "vehicle.pem", vehicle / "vehicle.key")
        cases.append(("TLS 1.3, mutual", mutual_server,
                      lambda s: mutual.wrap_socket(s, server_hostname="bench.example.cn")))
        logged = ssl.create_default_context(cafile=str(vehicle / "ca.pem"))
        logged.load_cert_chain(vehicle / "vehicle.pem", vehicle / "vehicle.key")
        logged.keylog_filename = str(Path(tmp) / "keylog.txt")
        cases.append(("TLS 1.3, mutual, key log written", mutual_server,
                      lambda s: logged.wrap_socket(s, server_hostname="bench.example.cn")))
        start = time.perf_counter()
        ca.server_context("fresh.example.eu")
        mint_ms = (time.perf_counter() - start) * 1000
        baseline = 0.0
        print(f"{connections} connections each, one request and answer; median per connection")
        for name, context, wrap in cases:
            listener, stop = _server(context)
            try:
                median = statistics.median(_time(listener.getsockname()[1], wrap, connections))
            finally:
                stop.set()
                listener.close()
            baseline = baseline or median
            print(f"  {name:36s} {median * 1e6:8.0f} µs  {median / baseline:5.1f}x")
        print(f"  a certificate minted for a new SNI at the sink: {mint_ms:.1f} ms (once per name)")


if __name__ == "__main__":
    main()
