"""The virtual Internet the vehicle meets: every destination in the cloud namespace answers (listed
endpoints keep their own servers, unanswered ones stay silent), and the host namespace sees none of it."""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import ssl
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path

import pytest

from harness.errors import ConfigError, RigError
from harness.net.keylog import load_keylog, readable_keylog
from harness.report import bundle
from harness.rig import catch_all, netns, virtual
from harness.rig.config import load_rig
from harness.rig.virtual import DNS_PORT, SINK_PORT, VirtualRig
from harness.scenarios import broker
from harness.scenarios.collector import HttpCollector
from harness.scenarios.dns_server import RigResolver, dns_server
from harness.scenarios.rig_ca import RigCa
from harness.scenarios.servers import ReusableTCPServer, ThreadedServers
from harness.scenarios.sink import TcpSink, UdpSink

RIG = Path(__file__).resolve().parent.parent / "rigs" / "virtual.toml"
Cloud = tuple[VirtualRig, TcpSink, UdpSink, RigCa, list[bytes]]
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or catch_all.shutil.which("nft") is None,
                                reason="needs root and nftables for namespaces")


def _host_state() -> tuple[str, str, str]:
    run = partial(subprocess.run, capture_output=True, text=True, check=False)
    return (run(["ip", "route", "show", "table", "all"]).stdout, run(["ip", "rule"]).stdout,
            run(["nft", "list", "ruleset"]).stdout)


class _Listed(ReusableTCPServer):
    def __init__(self, address: tuple[str, int], seen: list[bytes]) -> None:
        import socketserver

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                seen.append(self.request.recv(100))
                self.request.sendall(b"listed")
        super().__init__(address, Handler)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    before = _host_state()
    rig = VirtualRig(load_rig(RIG), tag="inet")
    rig.up()
    servers = ThreadedServers(rig.namespaces.cloud)
    ca = RigCa(tmp_path_factory.mktemp("ca"))
    seen: list[bytes] = []
    try:
        tcp = servers.start(partial(TcpSink, SINK_PORT, ca), "sink")
        udp = servers.start(partial(UdpSink, SINK_PORT), "sink-udp")
        account = next(e for k, e in rig.rig.vecu.endpoints.items() if k == "account")  # type: ignore[union-attr]
        servers.start(partial(_Listed, (account.host, account.port), seen), "account")
        vecu = rig.rig.vecu
        assert vecu is not None and vecu.resolver is not None
        servers.start(partial(dns_server, _resolver(rig), vecu.resolver, DNS_PORT), "resolver")
        yield rig, tcp, udp, ca, seen
    finally:
        servers.close()
        rig.down()
    assert _host_state() == before, "bringing the cloud up and down changed the host's routes, rules or nftables"


def _resolver(rig: VirtualRig) -> RigResolver:
    vecu = rig.rig.vecu
    assert vecu is not None
    listed = [*vecu.endpoints.values(), *vecu.unserved.values()]
    return RigResolver({e.name: e.host for e in listed if e.name}, rig.rig.netmap, [e.host for e in listed])


def _getent(rig: VirtualRig, name: str, database: str = "ahostsv4") -> str:
    """Resolved as the vECU resolves: a process started with `ip netns exec` reads the namespace's resolv.conf."""
    done = subprocess.run(netns.exec_argv(rig.namespaces.vehicle, ["getent", database, name]),
                          capture_output=True, text=True, check=False, timeout=10)
    return done.stdout.split()[0] if done.returncode == 0 and done.stdout else ""


def test_the_vehicle_resolves_listed_names_and_any_name_by_its_region(cloud) -> None:  # type: ignore[no-untyped-def]
    rig = cloud[0]
    vecu = rig.rig.vecu
    assert _getent(rig, "tsp.example.cn") == vecu.endpoints["mqtt"].host
    eu = _getent(rig, "anything.example.eu")
    assert eu and rig.rig.netmap.address_region(eu) == "EU"
    assert eu not in {e.host for e in vecu.endpoints.values()}
    assert _getent(rig, "nobody.example.org") == ""  # no region for it: NXDOMAIN


def test_pool_addresses_are_stable_and_never_a_listed_one() -> None:
    rig = load_rig(RIG)
    assert rig.vecu is not None
    taken = [e.host for e in rig.vecu.endpoints.values()]
    resolver = RigResolver({}, rig.netmap, taken)
    picks = {resolver.address_for(f"host{i}.example.cn", 4) for i in range(200)}
    assert None not in picks and not picks & set(taken)
    assert all(rig.netmap.address_region(str(p)) == "CN" for p in picks)
    assert resolver.address_for("host1.example.cn", 4) == resolver.address_for("HOST1.example.cn.", 4)
    six = resolver.address_for("host1.example.cn", 6)
    assert six is not None and rig.netmap.address_region(six) == "CN" and ":" in six
    assert resolver.address_for("host1.example.cn", 6) == six


def _in_vehicle(rig: VirtualRig):  # type: ignore[no-untyped-def]
    return netns.entered(rig.namespaces.vehicle)


def test_any_address_and_port_answers_tls_for_the_sni_asked(cloud) -> None:  # type: ignore[no-untyped-def]
    rig, tcp, _, ca, _ = cloud
    context = ssl.create_default_context(cafile=str(ca.ca_file))
    with _in_vehicle(rig):
        raw = socket.create_connection(("203.0.113.250", 443), timeout=3)
    with context.wrap_socket(raw, server_hostname="uploads.example.eu") as tls:
        tls.sendall(b"POST /x HTTP/1.1\r\nHost: uploads.example.eu\r\nContent-Length: 2\r\n\r\n{}")
        assert tls.recv(100).startswith(b"HTTP/1.1 200")
    with _in_vehicle(rig):
        plain = socket.create_connection(("203.0.113.10", 4711), timeout=3)  # a listed host, an unlisted port
    with plain:
        plain.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert plain.recv(100).startswith(b"HTTP/1.1 200")
    assert tcp.connections >= 2


def test_listed_endpoints_keep_their_server_and_unanswered_stay_silent(cloud) -> None:  # type: ignore[no-untyped-def]
    rig, _, udp, _, seen = cloud
    vecu = rig.rig.vecu
    account = vecu.endpoints["account"]
    with _in_vehicle(rig):
        sock = socket.create_connection((account.host, account.port), timeout=3)
        datagram = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock:
        sock.sendall(b"hello")
        assert sock.recv(100) == b"listed" and seen == [b"hello"]
    with datagram:
        datagram.sendto(b"\xa5\x01", ("203.0.113.230", 5005))
    unserved = vecu.unserved["upload_overseas"]
    silent.settimeout(0.5)
    with silent, pytest.raises(TimeoutError):
        silent.connect((unserved.host, unserved.port))
    deadline = time.monotonic() + 2
    while udp.datagrams < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert udp.datagrams >= 1


def test_icmp_echo_to_any_address_is_answered(cloud) -> None:  # type: ignore[no-untyped-def]
    rig = cloud[0]
    with _in_vehicle(rig):
        sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    with sock:
        sock.settimeout(2)
        body = struct.pack("!BBHHH", 8, 0, 0, 0x4242, 1) + b"ping"
        checksum = _checksum(body)
        sock.sendto(body[:2] + struct.pack("!H", checksum) + body[4:], ("203.0.113.251", 0))
        while True:
            packet, source = sock.recvfrom(256)
            if packet[20] == 0:  # echo reply
                break
    assert source[0] == "203.0.113.251"


def test_the_vehicle_reaches_any_ipv6_address_and_port(cloud) -> None:  # type: ignore[no-untyped-def]
    rig, tcp, udp, _, seen = cloud
    vecu = rig.rig.vecu
    account = vecu.endpoints["account"]
    assert ":" in account.host  # the listed IPv6-only service keeps its own server
    assert _getent(rig, account.dial, "ahostsv6") == account.host and _getent(rig, account.dial) == ""
    pool = _getent(rig, "anything.example.eu", "ahostsv6")
    assert rig.rig.netmap.address_region(pool) == "EU" and ":" in pool
    before, datagrams = tcp.connections, udp.datagrams
    with _in_vehicle(rig):
        listed = socket.create_connection((account.host, account.port), timeout=3)
        anywhere = socket.create_connection((pool, 4711), timeout=3)
        datagram = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    with listed, anywhere, datagram:
        listed.sendall(b"six")
        assert listed.recv(100) == b"listed" and b"six" in seen
        anywhere.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert anywhere.recv(100).startswith(b"HTTP/1.1 200")
        assert anywhere.getsockname()[0] == vecu.address6
        datagram.sendto(b"\xa5\x01", ("2001:db8:c::99", 5005))
    deadline = time.monotonic() + 2
    while udp.datagrams <= datagrams and time.monotonic() < deadline:
        time.sleep(0.02)
    assert tcp.connections > before and udp.datagrams > datagrams


def test_icmpv6_echo_to_any_address_is_answered(cloud) -> None:  # type: ignore[no-untyped-def]
    rig = cloud[0]
    with _in_vehicle(rig):
        sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    with sock:
        sock.settimeout(2)
        sock.sendto(struct.pack("!BBHHH", 128, 0, 0, 0x4243, 1) + b"ping", ("2001:db8:e::251", 0))
        while True:  # the kernel fills in the ICMPv6 checksum and strips the IPv6 header
            packet, source = sock.recvfrom(256)
            if packet[0] == 129:  # echo reply
                break
    assert source[0] == "2001:db8:e::251"


def test_host_namespace_holds_no_rig_address_route_or_rule(cloud) -> None:  # type: ignore[no-untyped-def]
    """While the cloud is up, the rig's IPv6 world and its nftables exist only in its namespaces."""
    rig = cloud[0]
    documentation = ipaddress.ip_network("2001:db8::/32")
    run = partial(subprocess.run, capture_output=True, text=True, check=True)
    addresses = [a["local"] for link in json.loads(run(["ip", "-j", "-6", "addr"]).stdout)
                 for a in link.get("addr_info", [])]
    routes = [r["dst"] for r in json.loads(run(["ip", "-j", "-6", "route", "show", "table", "all"]).stdout)]
    assert not [a for a in addresses if ipaddress.ip_address(a) in documentation], addresses
    assert not [r for r in routes if r != "default" and ipaddress.ip_network(r, strict=False).overlaps(documentation)]
    tables = {name: run(netns.exec_argv(name, ["nft", "list", "tables"]) if name else ["nft", "list", "tables"]).stdout
              for name in ("", rig.namespaces.vehicle, rig.namespaces.cloud)}
    assert "harness_catch_all" in tables[rig.namespaces.cloud]
    assert "harness_catch_all" not in tables[""] and "harness_catch_all" not in tables[rig.namespaces.vehicle]
    vehicle_routes = run(netns.exec_argv(rig.namespaces.vehicle, ["ip", "-6", "route"])).stdout
    assert f"default via {rig.rig.vecu.gateway6} dev {virtual.VEHICLE_IF}" in vehicle_routes  # type: ignore[union-attr]


def test_host_namespace_does_not_route_to_the_catch_all(cloud) -> None:  # type: ignore[no-untyped-def]
    """Asked of the routing table, not by a packet: a probe from the host could leave the machine."""
    rig = cloud[0]
    route = subprocess.run(["ip", "route", "get", "203.0.113.250"], capture_output=True, text=True, check=False)
    assert not route.stdout.startswith("local"), route.stdout
    assert rig.uplink not in route.stdout and "veh0" not in route.stdout
    local = subprocess.run(["ip", "route", "show", "table", "local"], capture_output=True, text=True, check=True)
    assert "0.0.0.0/0" not in local.stdout and "default" not in local.stdout


def test_mutual_tls_needs_the_vehicle_certificate_and_writes_a_key_log(cloud, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rig, _, _, ca, _ = cloud
    maps = rig.rig.vecu.endpoints["maps"]
    assert maps.tls and maps.name
    servers = ThreadedServers(rig.namespaces.cloud)
    servers.start(partial(HttpCollector, (maps.host, maps.port), ca.server_context(maps.name, require_client=True)),
                  "maps")
    vehicle = ca.vehicle_material(rig.rig.vecu.vin)
    try:
        keylog = tmp_path / "keylog.txt"
        with_cert = ssl.create_default_context(cafile=str(vehicle / "ca.pem"))
        with_cert.load_cert_chain(vehicle / "vehicle.pem", vehicle / "vehicle.key")
        with_cert.keylog_filename = str(keylog)
        with _in_vehicle(rig):
            raw = socket.create_connection((maps.host, maps.port), timeout=3)
        with with_cert.wrap_socket(raw, server_hostname=maps.name) as tls:
            tls.sendall(b"POST /v1/x HTTP/1.1\r\nHost: m\r\nContent-Length: 2\r\n\r\n{}")
            assert tls.recv(100).startswith(b"HTTP/1.1 200")
        assert len(load_keylog(keylog)) >= 1
        without = ssl.create_default_context(cafile=str(vehicle / "ca.pem"))
        with _in_vehicle(rig):
            raw = socket.create_connection((maps.host, maps.port), timeout=3)
        with pytest.raises((ssl.SSLError, OSError)), without.wrap_socket(raw, server_hostname=maps.name) as tls:
            tls.sendall(b"GET / HTTP/1.1\r\nHost: m\r\n\r\n")
            if not tls.recv(100):  # TLS 1.3 tells the client only on its first read
                raise ConnectionResetError("closed")
    finally:
        servers.close()


def test_tls_endpoints_in_the_rig_file_are_checked(tmp_path: Path) -> None:
    text = RIG.read_text(encoding="utf-8").replace('"../dbc/', f'"{RIG.parent.parent}/dbc/')
    for old, new, problem in (('mutual = ["mqtt", "ota"]', 'mutual = ["gbt32960"]', "must be in endpoints too"),
                              ('mutual = ["mqtt", "ota"]', 'mutual = ["nowhere"]', "not an endpoint"),
                              ('tsp.example.cn"', 'tsp..example.cn"', "not a DNS name"),
                              ('gateway6 = "2001:db8:100::1"', 'gateway6 = "2001:db8:101::1"', "share one subnet"),
                              ('address6 = "2001:db8:100::2"', 'address6 = "198.51.100.9"', "must be an IPv6"),
                              ('gateway6 = "2001:db8:100::1"', '', "needs the cloud side's IPv6")):
        variant = tmp_path / "rig.toml"
        variant.write_text(text.replace(old, new), encoding="utf-8")
        with pytest.raises(ConfigError, match=problem):
            load_rig(variant)


def test_a_key_log_that_is_empty_or_garbled_leaves_tls_opaque(tmp_path: Path) -> None:
    empty, garbled = tmp_path / "empty.txt", tmp_path / "garbled.txt"
    empty.write_text("")
    garbled.write_bytes(b"CLIENT_RANDOM zz 00\n\xff\xfe")
    assert readable_keylog(empty) is None and readable_keylog(garbled) is None
    assert readable_keylog(tmp_path / "missing.txt") is None


def test_the_bundle_flags_key_logs_as_secret_material(tmp_path: Path) -> None:
    evidence = tmp_path / "evidence" / "one_test"
    evidence.mkdir(parents=True)
    (evidence / "keylog.txt").write_text("CLIENT_RANDOM " + "00" * 32 + " " + "11" * 48 + "\n")
    (evidence / "capture.pcapng").write_bytes(b"")
    bundle._write_manifest(tmp_path, {}, {}, set())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["secret_material"]["files"] == ["evidence/one_test/keylog.txt"]
    assert manifest["files"]["evidence/one_test/keylog.txt"]["secret_material"] is True
    assert manifest["files"]["evidence/one_test/capture.pcapng"]["secret_material"] is False


def test_the_broker_asks_for_the_vehicle_certificate_where_the_rig_says(tmp_path: Path) -> None:
    mqtt = load_rig(RIG).vecu.endpoints["mqtt"]  # type: ignore[union-attr]
    ca = RigCa(tmp_path / "ca")
    text = broker.config_text([mqtt], ca, tmp_path)
    assert f"listener {mqtt.port} {mqtt.host}" in text and "require_certificate true" in text
    assert "require_certificate" not in broker.config_text([replace(mqtt, mutual=False)], ca, tmp_path)
    with pytest.raises(RigError, match="no CA"):
        broker.config_text([mqtt], None, tmp_path)


def test_missing_mosquitto_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(broker.shutil, "which", lambda name, path=None: None)
    with pytest.raises(RigError, match="apt-get install mosquitto"):
        broker.mosquitto_path()


def test_resolver_files_of_killed_runs_are_swept() -> None:
    stale = virtual.NETNS_ETC / "hv999999999veh"  # no process has this pid, no namespace this name
    stale.mkdir(parents=True, exist_ok=True)
    (stale / "resolv.conf").write_text("nameserver 203.0.113.53\n")
    virtual._sweep_resolv_confs()
    assert not stale.exists()


def test_missing_nftables_is_named_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(catch_all.shutil, "which", lambda name: None)
    with pytest.raises(RigError, match="apt-get install nftables"):
        catch_all.require_nft()


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF
