"""`harness analyze --keylog` on real TLS sessions: Python's ssl module writes the key log, dumpcap
captures the sessions in a throwaway network namespace, and analyze must read what was sent.

A TLS 1.2 session over IPv4 and a TLS 1.3 session over IPv6, each posting a position to an EU address:
decrypted it is `fail`; without the key log (or with keys of other sessions) `inconclusive`."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.cli import main
from harness.net.capture import DumpcapCapture
from harness.net.evidence import load_evidence
from harness.rig import netns
from tests.capture_builder import EU_HOST, EU_HOST6, NETMAP, VEHICLE, VEHICLE6, VIN

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("dumpcap") or not shutil.which("ip"),
                                reason="needs root, iproute2 and dumpcap for a namespace and a capture")
SERVER_NAME = "telemetry.example.eu"
POSITION = {"vin": VIN, "lat": 48.8566, "lon": 2.3522}


@dataclass
class Sessions:
    capture: Path
    keylog: Path
    netmap: Path
    directory: Path


def _certificate(directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(SERVER_NAME)]), critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def _session(namespace: str, version: ssl.TLSVersion, client: str, server: str, port: int, cert: Path, key: Path,
             keylog: Path) -> None:
    """One HTTPS POST of a position; the client's context appends the session's secrets to `keylog`."""
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client_context.load_verify_locations(cert)
    client_context.minimum_version = client_context.maximum_version = version
    client_context.keylog_filename = str(keylog)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with netns.entered(namespace):
        listener = socket.create_server((server, port), family=family)
        connection = socket.create_connection((server, port), timeout=5, source_address=(client, 0))
    received: list[bytes] = []

    def serve() -> None:
        accepted, _ = listener.accept()
        with server_context.wrap_socket(accepted, server_side=True) as tls:
            tls.settimeout(5)
            data = b""
            while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < len(body):
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
            received.append(data)
            tls.sendall(b"HTTP/1.1 204 No Content\r\n\r\n")

    body = json.dumps(POSITION).encode()
    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with client_context.wrap_socket(connection, server_hostname=SERVER_NAME) as tls:
            tls.sendall(f"POST /v1/position HTTP/1.1\r\nHost: {SERVER_NAME}\r\nContent-Type: application/json\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
            assert tls.recv(1024).startswith(b"HTTP/1.1 204")
            assert tls.version() == ("TLSv1.2" if version is ssl.TLSVersion.TLSv1_2 else "TLSv1.3")
    finally:
        thread.join(10)
        listener.close()
    assert received and received[0].endswith(body)


def _wait_until_capturing(namespace: str, path: Path, timeout: float = 10.0) -> None:
    """dumpcap announces "Capturing on" before it captures: send probes until one reaches the file."""
    with netns.entered(namespace):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            probe.sendto(b"probe", ("127.0.0.1", 9))  # loopback of the namespace; nobody listens
            time.sleep(0.02)
            if path.exists() and path.stat().st_size > 400:  # more than the section and interface headers
                return
    finally:
        probe.close()
    raise AssertionError("dumpcap did not start capturing within 10 s")


def _record(directory: Path, cert: Path, key: Path) -> tuple[Path, Path]:
    """Both sessions in one capture (and one key log) inside a throwaway namespace."""
    keylog, capture_path = directory / "keys.log", directory / "tls.pcapng"
    keylog.unlink(missing_ok=True)
    capture_path.unlink(missing_ok=True)
    namespace = f"{netns.owned_prefix()}tls"  # the harness sweeps it if this process dies
    netns.create(namespace)
    capture = DumpcapCapture("lo", capture_path, namespace=namespace)
    try:
        for address in (f"{VEHICLE}/32", f"{EU_HOST}/32"):
            netns.ip("addr", "add", address, "dev", "lo", namespace=namespace)
        for address in (f"{VEHICLE6}/128", f"{EU_HOST6}/128"):
            netns.ip("-6", "addr", "add", address, "dev", "lo", "nodad", namespace=namespace)
        capture.start()
        _wait_until_capturing(namespace, capture_path)
        _session(namespace, ssl.TLSVersion.TLSv1_2, VEHICLE, EU_HOST, 443, cert, key, keylog)
        _session(namespace, ssl.TLSVersion.TLSv1_3, VEHICLE6, EU_HOST6, 8443, cert, key, keylog)
        # dumpcap reads the kernel's packet buffer in blocks; one not yet handed over when it stops is
        # lost without a drop being counted, so give the last block time to be delivered
        time.sleep(1.0)
        stats = capture.stop()
        assert stats.reported and stats.dropped == 0, stats
    finally:
        capture.kill()
        netns.delete(namespace)
    return capture_path, keylog


def _whole(capture: Path) -> bool:
    """Both sessions captured from SYN to FIN in both directions."""
    flows = [f for f in load_evidence(capture, None).flows.flows.values() if f.server.port in (443, 8443)]
    return len(flows) == 2 and all(f.handshake_seen and f.to_server.fin and f.to_client.fin for f in flows)


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> Sessions:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = _certificate(directory)
    for _attempt in range(3):  # a loaded machine can still cut a capture short: record again, never judge half
        capture, keylog = _record(directory, cert, key)
        if _whole(capture):
            break
    else:
        raise AssertionError("three captures of the TLS sessions came out incomplete")
    netmap = directory / "netmap.toml"
    netmap.write_text(NETMAP, encoding="utf-8")
    return Sessions(capture, keylog, netmap, directory)


def _analyze(sessions: Sessions, capsys: pytest.CaptureFixture[str], keylog: Path | None) -> tuple[int, Any]:
    argv = ["analyze", str(sessions.capture), "--profile", "cn", "--netmap", str(sessions.netmap), "--json"]
    status = main(argv + (["--keylog", str(keylog)] if keylog else []))
    report = json.loads(capsys.readouterr().out)
    return status, {f["dst"]: f for f in report["findings"] if f["check"] == "locality" and f["dst"]} | {
        "verdict": report["verdict"]}


def test_decrypted_position_to_eu_fails(sessions: Sessions, capsys: pytest.CaptureFixture[str]) -> None:
    status, found = _analyze(sessions, capsys, sessions.keylog)
    assert status == 1 and found["verdict"] == "fail"
    tls12, tls13 = found[f"{EU_HOST}:443"], found[f"[{EU_HOST6}]:8443"]
    for finding, version in ((tls12, "TLS 1.2"), (tls13, "TLS 1.3")):
        assert finding["verdict"] == "fail", finding
        assert finding["protocol"] == "http" and finding["region"] == "EU"
        assert {"location", "vin"} <= set(finding["categories"])
        assert version in finding["detail"] and SERVER_NAME in finding["detail"]


def test_without_key_log_is_inconclusive(sessions: Sessions, capsys: pytest.CaptureFixture[str]) -> None:
    status, found = _analyze(sessions, capsys, None)
    assert status == 3 and found["verdict"] == "inconclusive"
    for dst in (f"{EU_HOST}:443", f"[{EU_HOST6}]:8443"):
        assert found[dst]["verdict"] == "inconclusive" and found[dst]["protocol"] == "tls"
        assert "no key log" in found[dst]["detail"]


def test_keys_of_other_sessions_do_not_decrypt(sessions: Sessions, capsys: pytest.CaptureFixture[str]) -> None:
    """Only the TLS 1.2 session's secret is given: that session fails, the TLS 1.3 one stays inconclusive."""
    lines = sessions.keylog.read_text(encoding="ascii").splitlines()
    partial = sessions.directory / "tls12-only.log"
    partial.write_text("\n".join(line for line in lines if line.startswith("CLIENT_RANDOM")) + "\n", encoding="ascii")
    _, found = _analyze(sessions, capsys, partial)
    assert found[f"{EU_HOST}:443"]["verdict"] == "fail"
    assert found[f"[{EU_HOST6}]:8443"]["verdict"] == "inconclusive"
    assert "no secret for this session" in found[f"[{EU_HOST6}]:8443"]["detail"]


def test_wrong_secrets_are_inconclusive_not_garbage(sessions: Sessions, capsys: pytest.CaptureFixture[str]) -> None:
    """Secrets of the right session ids but wrong values fail the record integrity check: not decoded."""
    lines = sessions.keylog.read_text(encoding="ascii").splitlines()
    wrong = sessions.directory / "wrong.log"
    wrong.write_text("\n".join(
        f"{label} {random} {'00' * (len(secret) // 2)}" for label, random, secret in
        (line.split() for line in lines if line and not line.startswith("#"))) + "\n", encoding="ascii")
    status, found = _analyze(sessions, capsys, wrong)
    assert status == 3
    for dst in (f"{EU_HOST}:443", f"[{EU_HOST6}]:8443"):
        assert found[dst]["verdict"] == "inconclusive" and "decryption failed" in found[dst]["detail"]
