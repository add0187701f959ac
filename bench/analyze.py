"""Times `harness analyze` against `tshark -T fields -e ip.dst -e tcp.dstport` on one generated capture,
with ground-truth matching off and on (`--dbc`: the track from the capture's GNSS frames on CAN), and
the matcher's own throughput. The capture mixes what a telematics uplink carries (GB/T 32960, MQTT,
HTTP, DNS, TLS; IPv4 and IPv6) and the vehicle's CAN."""
from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from harness.net import gbt32960
from harness.net.gbt32960_units import Location, MotorData, VehicleData
from harness.net.pcapfile import LINKTYPE_CAN_SOCKETCAN, LINKTYPE_ETHERNET, PcapngWriter, socketcan_frame

NETMAP = """\
[vehicle]
addresses = [{vehicles}]

[[endpoint]]
cidr = "203.0.113.0/25"
region = "CN"
[[endpoint]]
cidr = "2001:db8:86::/48"
region = "CN"
[[endpoint]]
cidr = "203.0.113.128/25"
region = "EU"
[[endpoint]]
domain = "analytics.example.eu"
region = "EU"

[[purpose]]
destination = "203.0.113.20"
name = "national-platform-reporting"
categories = ["vin", "vehicle_state", "location", "diagnostics"]
[[purpose]]
destination = "2001:db8:86::20"
name = "national-platform-reporting"
categories = ["vin", "vehicle_state", "location", "diagnostics"]
[[purpose]]
destination = "203.0.113.10"
name = "telematics"
categories = ["vin", "vehicle_state", "location"]
[[purpose]]
destination = "203.0.113.30"
name = "ota-updates"
categories = ["vin", "ota"]
"""
CN_GBT = ("203.0.113.20", "2001:db8:86::20")
CN_MQTT, CN_OTA, RESOLVER, EU_TLS = "203.0.113.10", "203.0.113.30", "203.0.113.53", "203.0.113.140"
MAC = b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02"


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _ip(src: str, dst: str) -> tuple[bytes, bytes, bool]:
    import ipaddress

    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    return a.packed, b.packed, a.version == 6


def frame(src: str, dst: str, protocol: int, transport: bytes) -> bytes:
    """Ethernet + IPv4/IPv6 around a transport header and payload (transport checksum left as given)."""
    s, d, v6 = _ip(src, dst)
    if v6:
        return MAC + b"\x86\xdd" + struct.pack("!IHBB", 6 << 28, len(transport), protocol, 64) + s + d + transport
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(transport), 0, 0x4000, 64, protocol, 0, s, d)
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return MAC + b"\x08\x00" + header + transport


class Conversation:
    """One TCP connection with sequence numbers kept for both sides, segmented at the MSS."""

    def __init__(self, out: list[tuple[float, bytes]], client: tuple[str, int], server: tuple[str, int],
                 start: float) -> None:
        self.out, self.client, self.server, self.t = out, client, server, start
        self.seq = {True: random.getrandbits(32), False: random.getrandbits(32)}
        self._segment(True, b"", 0x02)
        self.seq[True] += 1
        self._segment(False, b"", 0x12)
        self.seq[False] += 1
        self._segment(True, b"", 0x10)

    def _segment(self, from_client: bool, data: bytes, flags: int) -> None:
        src, dst = (self.client, self.server) if from_client else (self.server, self.client)
        tcp = struct.pack("!HHIIBBHHH", src[1], dst[1], self.seq[from_client] & 0xFFFFFFFF,
                          self.seq[not from_client] & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
        self.out.append((self.t, frame(src[0], dst[0], 6, tcp + data)))
        self.t += 0.0002

    def send(self, from_client: bool, data: bytes, mss: int = 1448) -> None:
        for offset in range(0, len(data), mss):
            piece = data[offset:offset + mss]
            self._segment(from_client, piece, 0x18)
            self.seq[from_client] += len(piece)
            if offset // mss % 2 == 1 or offset + mss >= len(data):
                self._segment(not from_client, b"", 0x10)

    def close(self) -> None:
        self._segment(True, b"", 0x11)
        self.seq[True] += 1
        self._segment(False, b"", 0x11)
        self.seq[False] += 1
        self._segment(True, b"", 0x10)


def udp(out: list[tuple[float, bytes]], t: float, src: tuple[str, int], dst: tuple[str, int], data: bytes) -> None:
    out.append((t, frame(src[0], dst[0], 17, struct.pack("!HHHH", src[1], dst[1], 8 + len(data), 0) + data)))


def dns_pair(out: list[tuple[float, bytes]], t: float, vehicle: str, name: str, address: str) -> None:
    qid, port = random.getrandbits(16), random.randint(20000, 60000)
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00\x00\x01\x00\x01"
    udp(out, t, (vehicle, port), (RESOLVER, 53), struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question)
    import ipaddress

    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + ipaddress.ip_address(address).packed
    udp(out, t + 0.001, (RESOLVER, 53), (vehicle, port),
        struct.pack("!HHHHHH", qid, 0x8180, 1, 1, 0, 0) + question + answer)


def client_hello(sni: str) -> bytes:
    name = sni.encode()
    server_name = struct.pack("!HBH", len(name) + 3, 0, len(name)) + name
    extensions = struct.pack("!HH", 0, len(server_name)) + server_name
    body = (b"\x03\x03" + random.randbytes(32) + b"\x00" + struct.pack("!H", 2) + b"\x13\x01" + b"\x01\x00"
            + struct.pack("!H", len(extensions)) + extensions)
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


def record(kind: int, body: bytes) -> bytes:
    return bytes([kind]) + b"\x03\x03" + struct.pack("!H", len(body)) + body


def gbt_session(out: list[tuple[float, bytes]], vehicle: str, vin: str, start: float, reports: int) -> None:
    server = CN_GBT[1] if ":" in vehicle else CN_GBT[0]
    conv = Conversation(out, (vehicle, random.randint(30000, 60000)), (server, 32960), start)
    when = datetime(2026, 3, 1, 8, 0, 0)
    conv.send(True, gbt32960.build_login(vin, when, 1, "89860012345678901234"))
    for i in range(reports):
        lat, lon = near_track(conv.t)
        report = gbt32960.build_realtime(
            vin, when + timedelta(seconds=10 * i), vehicle=VehicleData(speed_kmh=random.uniform(0, 90), soc_pct=80),
            motors=[MotorData(speed_rpm=3000)], location=Location(lat, lon))
        conv.send(True, report)
        conv.send(False, gbt32960.build_response(report))
    conv.close()


def track(t: float) -> tuple[float, float]:
    """Where the vehicle is at capture time t: a loop of about 2 km around central Shanghai."""
    return 31.2304 + 0.01 * math.sin(t / 60), 121.4737 + 0.01 * math.cos(t / 60)


def near_track(t: float) -> tuple[float, float]:
    lat, lon = track(t)
    return lat + random.uniform(-2e-4, 2e-4), lon + random.uniform(-2e-4, 2e-4)


def can_track(start: float, end: float) -> list[tuple[float, bytes]]:
    """GnssPosition frames (dbc/vehicle.dbc: id 496, int32 x1e7 little-endian) every 100 ms."""
    frames, t = [], start
    while t <= end:
        lat, lon = track(t)
        frames.append((t, socketcan_frame(496, struct.pack("<ii", round(lat * 1e7), round(lon * 1e7)))))
        t += 0.1
    return frames


def mqtt_session(out: list[tuple[float, bytes]], vehicle: str, vin: str, start: float, publishes: int) -> None:
    conv = Conversation(out, (vehicle, random.randint(30000, 60000)), (CN_MQTT, 1883), start)
    client_id = vin.encode()
    connect = b"\x00\x04MQTT\x04\x02\x00\x3c" + struct.pack("!H", len(client_id)) + client_id
    conv.send(True, b"\x10" + bytes([len(connect)]) + connect)
    conv.send(False, b"\x20\x02\x00\x00")
    topic = f"vehicles/{vin}/telemetry".encode()
    for i in range(publishes):
        lat, lon = near_track(conv.t)
        body = json.dumps({"vin": vin, "speed": round(random.uniform(0, 90), 1), "soc": 80,
                           "lat": round(lat, 5), "lon": round(lon, 5)}).encode()
        variable = struct.pack("!H", len(topic)) + topic + struct.pack("!H", i + 1) + body
        conv.send(True, b"\x32" + _varint(len(variable)) + variable)
        conv.send(False, b"\x40\x02" + struct.pack("!H", i + 1))
    conv.close()


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        n, digit = n >> 7, n & 0x7F
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def http_session(out: list[tuple[float, bytes]], vehicle: str, vin: str, start: float, package: bytes) -> None:
    conv = Conversation(out, (vehicle, random.randint(30000, 60000)), (CN_OTA, 8080), start)
    status = json.dumps({"vin": vin, "campaign": "2026-03", "state": "downloading"}).encode()
    conv.send(True, b"POST /ota/status HTTP/1.1\r\nHost: ota.example.cn\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(status) + status)
    conv.send(False, b"HTTP/1.1 204 No Content\r\n\r\n")
    conv.send(True, b"GET /ota/package HTTP/1.1\r\nHost: ota.example.cn\r\nAccept-Encoding: gzip\r\n\r\n")
    body = gzip.compress(package)
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 8192]), body[i:i + 8192]) for i in range(0, len(body), 8192))
    conv.send(False, b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Encoding: gzip\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
    conv.close()


def tls_session(out: list[tuple[float, bytes]], vehicle: str, start: float, records: int) -> None:
    conv = Conversation(out, (vehicle, random.randint(30000, 60000)), (EU_TLS, 443), start)
    conv.send(True, client_hello("analytics.example.eu"))
    conv.send(False, record(22, b"\x02" + random.randbytes(120)) + record(20, b"\x01")
              + record(23, random.randbytes(2400)))
    conv.send(True, record(20, b"\x01") + record(23, random.randbytes(53)))
    for _ in range(records):
        conv.send(True, record(23, random.randbytes(random.randint(200, 900))))
        conv.send(False, record(23, random.randbytes(random.randint(100, 300))))
    conv.close()


def generate(path: Path, target: int, seed: int = 32960) -> tuple[int, str]:
    """Write a capture of about `target` packets; returns (packets, netmap text)."""
    random.seed(seed)
    # incompressible enough that the download spans many segments, compressible enough for gzip to matter
    package = b"".join(random.randbytes(64) + bytes(192) for _ in range(1200))
    vehicles = [f"198.51.100.{10 + i}" for i in range(24)] + [f"2001:db8:1::{10 + i:x}" for i in range(8)]
    out: list[tuple[float, bytes]] = []
    t, session = 1_772_000_000.0, 0
    while len(out) < target:
        vehicle = vehicles[session % len(vehicles)]
        vin = f"LHVBENCH{session % len(vehicles):09d}"
        start = t + session * 0.5
        dns_pair(out, start, vehicle, "tsp.example.cn", CN_MQTT)
        gbt_session(out, vehicle, vin, start + 0.01, 40)
        if ":" not in vehicle:
            mqtt_session(out, vehicle, vin, start + 0.02, 60)
            dns_pair(out, start + 0.03, vehicle, "analytics.example.eu", EU_TLS)
            tls_session(out, vehicle, start + 0.04, 20)
            if session % 4 == 0:
                http_session(out, vehicle, vin, start + 0.05, package)
        session += 1
    out.sort(key=lambda item: item[0])
    del out[target:]
    can = can_track(out[0][0], out[-1][0])
    with path.open("wb") as handle:
        writer = PcapngWriter(handle)
        eth = writer.interface(LINKTYPE_ETHERNET, "uplink")
        bus = writer.interface(LINKTYPE_CAN_SOCKETCAN, "can0")
        merged = sorted([(t, eth, d) for t, d in out] + [(t, bus, d) for t, d in can], key=lambda item: item[0])
        for time_, interface, data in merged:
            writer.packet(interface, time_, data)
    addresses = ", ".join(f'"{v}"' for v in vehicles)
    return len(out) + len(can), NETMAP.format(vehicles=addresses)


def _timed(argv: list[str]) -> tuple[float, float, subprocess.CompletedProcess[bytes]]:
    """(wall seconds, CPU seconds of the child, result): CPU time is what a busy shared machine distorts least."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, check=False, timeout=600)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--keep", type=Path, help="keep the capture and netmap in this directory (reused if there)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each tool; the fastest counts")
    args = parser.parse_args()
    tshark = shutil.which("tshark")
    if tshark is None:
        print("bench needs tshark: apt-get install tshark", file=sys.stderr)
        return 2
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-analyze-"))
    work.mkdir(parents=True, exist_ok=True)
    capture, netmap = work / "mixed.pcapng", work / "netmap.toml"
    started = time.perf_counter()
    if capture.exists() and netmap.exists() and (work / "packets").exists():
        packets = int((work / "packets").read_text())
    else:
        packets, netmap_text = generate(capture, args.packets)
        netmap.write_text(netmap_text, encoding="utf-8")
        (work / "packets").write_text(str(packets))
    print(f"capture of {packets} packets ({capture.stat().st_size / 1e6:.1f} MB) ready "
          f"in {time.perf_counter() - started:.1f} s")

    harness_argv = [sys.executable, "-m", "harness.cli", "analyze", str(capture), "--profile", "cn",
                    "--netmap", str(netmap), "--json"]
    matching_argv = [*harness_argv, "--dbc", str(DBC)]
    tshark_argv = [tshark, "-r", str(capture), "-T", "fields", "-e", "ip.dst", "-e", "tcp.dstport"]
    results: dict[str, tuple[float, float]] = {}
    for name, argv in (("tshark", tshark_argv), ("harness analyze", harness_argv),
                       ("harness analyze --dbc", matching_argv)):
        best = (float("inf"), float("inf"))
        for _ in range(args.repeat):
            wall, cpu, done = _timed(argv)
            if name == "tshark" and done.returncode != 0:
                print(f"tshark failed: {done.stderr.decode()[-300:]}", file=sys.stderr)
                return 1
            best = (min(best[0], wall), min(best[1], cpu))
        results[name] = best
        if name.startswith("harness"):
            report = json.loads(done.stdout)
            print(f"{name}: verdict {report['verdict']}, {report['stats']}, "
                  f"{len(report['findings'])} findings (exit {done.returncode})")
    results["harness analyze, in-process"] = _in_process(capture, netmap, args.repeat, matching=False)
    results["harness analyze --dbc, in-process"] = _in_process(capture, netmap, args.repeat, matching=True)
    print(f"{'':30} {'wall s':>8} {'packets/s':>11} {'CPU s':>8} {'packets/s':>11}   (best of {args.repeat})")
    for name, (wall, cpu) in results.items():
        print(f"{name:30} {wall:8.2f} {packets / wall:11,.0f} {cpu:8.2f} {packets / cpu:11,.0f}")
    tshark_wall, tshark_cpu = results["tshark"]
    for name in results:
        if name == "tshark":
            continue
        wall, cpu = results[name]
        print(f"ratio {name} / tshark (packets/s): {tshark_wall / wall:.2f}x wall, {tshark_cpu / cpu:.2f}x CPU")
    searched, seconds = MATCHER
    print(f"matcher: {searched / 1e6:.1f} MB of message parts searched in {seconds:.2f} s CPU "
          f"({searched / 1e6 / seconds:.1f} MB/s), best run")
    if args.keep is None:
        shutil.rmtree(work)
    return 0


DBC = Path(__file__).resolve().parent.parent / "dbc" / "vehicle.dbc"
MATCHER = [0, float("inf")]  # bytes searched, CPU seconds of the matcher in the best matching run


def _in_process(capture: Path, netmap: Path, repeat: int, matching: bool) -> tuple[float, float]:
    """analyze() called directly: the work without the interpreter's start-up and imports."""
    import harness.checks  # noqa: F401 - imported before timing, as a long-running process would have
    from harness.commands.analyze import analyze, position_codec
    from harness.policy.netmap import load_netmap
    from harness.policy.policy import Policy
    from harness.policy.profile import load_profile
    from harness.truth.recognise import Recogniser

    policy = Policy(load_profile("cn"), load_netmap(netmap))
    codec = position_codec(DBC, None) if matching else None
    inspect = Recogniser.inspect
    spent = [0, 0.0]

    def measured(self: Recogniser, units: Any) -> Any:
        start = time.process_time()
        try:
            return inspect(self, units)
        finally:
            spent[0] += sum(len(data) for _, parts in units for data, _ in parts)
            spent[1] += time.process_time() - start

    best = (float("inf"), float("inf"))
    Recogniser.inspect = measured  # type: ignore[method-assign]
    try:
        for _ in range(repeat):
            spent[:] = [0, 0.0]
            wall, cpu = time.perf_counter(), time.process_time()
            analyze(capture, policy, codec=codec)
            best = (min(best[0], time.perf_counter() - wall), min(best[1], time.process_time() - cpu))
            if matching and spent[1] < MATCHER[1]:
                MATCHER[:] = spent
    finally:
        Recogniser.inspect = inspect  # type: ignore[method-assign]
    return best

if __name__ == "__main__":
    sys.exit(main())
