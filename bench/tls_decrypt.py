"""What reading TLS 1.3 with a key log costs the analyzer: the direct record layer
(`harness/net/tls13_records.py`) against scapy's TLS layer (the baseline, measured in the same run)
on the same sessions, and whether both read the same plaintext at the same times.

The sessions are made in memory by Python's TLS stack with the rig CA's certificates and the
vehicle's client certificate, as the OTA link makes them: each a handshake, then `--exchanges`
request/response pairs (a poll, a status report, a 4 kB package chunk). No socket, no network.

    .venv/bin/python bench/tls_decrypt.py [--sessions 40] [--exchanges 10]"""

from __future__ import annotations

import argparse
import ssl
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.net.keylog import parse_keylog  # noqa: E402
from harness.net.tls import (  # noqa: E402
    _Decryption,
    parse_client_hello,
    server_cipher_suite,
    split_records,
)
from harness.net.tls13_records import open_side  # noqa: E402
from harness.scenarios.rig_ca import RigCa  # noqa: E402

NAME = "ota.example.cn"
EXCHANGES = [(b"GET /ota/v1/campaigns?vin=LHVTEST0000000001 HTTP/1.1\r\nHost: ota.example.cn\r\n\r\n",
              b"HTTP/1.1 200 OK\r\nContent-Length: 60\r\n\r\n" + b'{"campaigns": []}'.ljust(60)),
             (b"POST /ota/v1/status HTTP/1.1\r\nContent-Length: 40\r\n\r\n" + b'{"state": "notified"}'.ljust(40),
              b"HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\n{\"ok\": true}"),
             (b"GET /ota/v1/packages/7001 HTTP/1.1\r\nRange: bytes=0-\r\n\r\n",
              b"HTTP/1.1 206 Partial Content\r\n\r\n" + bytes(4096))]


def session(ca: RigCa, vehicle: Path, keylog: Path, exchanges: int) -> dict[bool, bytes]:
    """Both sides' bytes of one mutual-TLS session over memory BIOs (True: the client's)."""
    client_context = ssl.create_default_context(cafile=str(vehicle / "ca.pem"))
    client_context.load_cert_chain(vehicle / "vehicle.pem", vehicle / "vehicle.key")
    client_context.keylog_filename = str(keylog)  # type: ignore[assignment]
    bios = [ssl.MemoryBIO() for _ in range(4)]
    client = client_context.wrap_bio(bios[0], bios[1], server_hostname=NAME)
    server = ca.server_context(NAME, require_client=True).wrap_bio(bios[2], bios[3], server_side=True)
    sent = {True: b"", False: b""}

    def pump() -> None:
        for source, sink, side in ((bios[1], bios[2], True), (bios[3], bios[0], False)):
            data = source.read()
            sink.write(data)
            sent[side] += data

    for _ in range(10):
        for end in (client, server):
            try:
                end.do_handshake()
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                pass
        pump()
    for index in range(exchanges):
        request, response = EXCHANGES[index % len(EXCHANGES)]
        client.write(request)
        pump()
        while server.pending() or len(server.read(65536)) == 65536:
            pass
        server.write(response)
        pump()
        while client.pending() or len(client.read(65536)) == 65536:
            pass
    return sent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--exchanges", type=int, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        ca = RigCa(Path(tmp) / "ca")
        vehicle, keylog = ca.vehicle_material("LHVTEST0000000001"), Path(tmp) / "keylog.txt"
        streams = [session(ca, vehicle, keylog, args.exchanges) for _ in range(args.sessions)]
        keys = parse_keylog(keylog.read_text(encoding="ascii"))
    sessions = [{side: split_records(s[side])[0] for side in (True, False)} for s in streams]
    record_count = sum(len(s[True]) + len(s[False]) for s in sessions)
    timing: dict[str, float] = {"direct": 0.0, "scapy": 0.0}
    same = 0
    for records in sessions:
        random = parse_client_hello(records[True]).random
        secrets = {label: entries[random] for label, entries in keys.secrets.items() if random in entries}
        suite = server_cipher_suite(records[False]) or 0
        started = time.process_time()
        direct = {side: b"".join(c for _, c in open_side([(r.kind, r.body) for r in records[side]], suite,
                                                             secrets, side)) for side in (True, False)}
        timing["direct"] += time.process_time() - started
        times = {side: [(r.offset, float(r.offset)) for r in records[side]] for side in (True, False)}
        started = time.process_time()
        scapy = _Decryption(records[True], records[False], times[True], times[False], keys).run()
        timing["scapy"] += time.process_time() - started
        same += all(direct[side] == scapy[side].data and direct[side] for side in (True, False))
    print(f"{len(sessions)} TLS 1.3 sessions (suite 0x{server_cipher_suite(sessions[0][False]) or 0:04x}, mutual "
          f"TLS), {record_count} records, {args.exchanges} exchanges each; same plaintext from both: "
          f"{same}/{len(sessions)}")
    for name in ("scapy", "direct"):
        print(f"  {name:>6}: {timing[name]:.3f} s CPU = {1e6 * timing[name] / record_count:.0f} us a record")
    print(f"  direct is {timing['scapy'] / max(timing['direct'], 1e-9):.0f}x faster")
    return 0 if same == len(sessions) else 1


if __name__ == "__main__":
    sys.exit(main())
