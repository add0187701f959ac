"""The vECU's OTA link on the virtual Internet: it resolves the backend's name, speaks HTTPS with its
certificate, resumes a cut download with a Range request, and logs its secrets; the capture read with
that key log shows the campaign. Trusting the wrong CA, it gets no campaign, and the notice check on
that capture is inconclusive with a one-line reason, not a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from harness.checks.ota_notice import check_notice
from harness.net.capture import DumpcapCapture
from harness.net.evidence import load_evidence
from harness.net.keylog import readable_keylog
from harness.net.ota_wire import http_exchanges, package_downloads
from harness.rig import catch_all, netns
from harness.rig.config import Endpoint, load_rig
from harness.rig.virtual import DNS_PORT, VirtualRig
from harness.scenarios.campaign import example_campaign
from harness.scenarios.dns_server import RigResolver, dns_server
from harness.scenarios.ota_backend import BackendState, OtaBackend, OtaBackendServer
from harness.scenarios.rig_ca import RigCa
from harness.scenarios.servers import ThreadedServers
from harness.vecu.tls import KEYLOG_ENV, TLS_DIR_ENV
from tests.synthetic_evidence import policy

ROOT = Path(__file__).resolve().parent.parent
RIG = ROOT / "rigs" / "virtual.toml"
CAMPAIGN = example_campaign(4401)
pytestmark = pytest.mark.skipif(os.geteuid() != 0 or catch_all.shutil.which("nft") is None
                                or catch_all.shutil.which("dumpcap") is None,
                                reason="needs root, nftables and dumpcap for namespaces and a capture")

# What the vECU's OTA client does with its link, run in the vehicle namespace (its resolv.conf is the rig's)
CLIENT = """
import json, sys
from harness.rig.config import Endpoint
from harness.vecu.ota_link import BackendLink, PackageBuffer
host, port, name, url = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
link = BackendLink(Endpoint(host, port, name=name, tls=True, mutual=True), "LHVTEST0000000001")
out = {}
try:
    out["campaigns"] = [c.get("campaign_id") for c in link.poll().result(10)]
    package = PackageBuffer()
    for attempt in range(4):
        if link.download(url, package).exception(10) is None:
            break
    out["package"] = len(package)
except Exception as exc:
    out["error"] = f"{type(exc).__name__}: {exc}"
link.close()
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VirtualRig, RigCa, Endpoint, OtaBackend]]:
    rig = VirtualRig(load_rig(RIG), tag="otls")
    rig.up()
    servers = ThreadedServers(rig.namespaces.cloud)
    ca = RigCa(tmp_path_factory.mktemp("ca"))
    try:
        vecu = rig.rig.vecu
        assert vecu is not None and vecu.resolver is not None
        ota = vecu.endpoints["ota"]
        assert ota.tls and ota.mutual and ota.name, "the embedded rig's OTA backend speaks mutual TLS, by name"
        listed = [*vecu.endpoints.values(), *vecu.unserved.values()]
        resolver = RigResolver({e.name: e.host for e in listed if e.name}, rig.rig.netmap, [e.host for e in listed])
        servers.start(partial(dns_server, resolver, vecu.resolver, DNS_PORT), "resolver")
        state = BackendState()
        servers.start(partial(OtaBackendServer, (ota.host, ota.port), state,
                              ca.server_context(ota.name, require_client=True)), "ota")
        backend = OtaBackend(state)
        backend.offer(CAMPAIGN, "network-cut")
        yield rig, ca, ota, backend
    finally:
        servers.close()
        rig.down()


def _client(rig: VirtualRig, ota: Endpoint, tls_dir: Path, keylog: Path, capture: Path) -> dict[str, object]:
    """The link's poll and download from the vehicle namespace, captured at the uplink."""
    dumpcap = DumpcapCapture(rig.uplink, capture, rig.namespaces.cloud)
    dumpcap.start()
    try:
        done = subprocess.run(netns.exec_argv(rig.namespaces.vehicle, [
            sys.executable, "-c", CLIENT, ota.host, str(ota.port), str(ota.name), CAMPAIGN.package_url]),
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
            env={**os.environ, TLS_DIR_ENV: str(tls_dir), KEYLOG_ENV: str(keylog)})
    finally:
        dumpcap.stop()
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_link_polls_and_resumes_over_mutual_tls_and_the_capture_shows_it(cloud, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rig, ca, ota, backend = cloud
    keylog = tmp_path / "keylog.txt"
    seen = _client(rig, ota, ca.vehicle_material("LHVTEST0000000001"), keylog, tmp_path / "capture.pcapng")
    assert seen == {"campaigns": [CAMPAIGN.campaign_id], "package": len(CAMPAIGN.package)}, seen
    starts = backend.downloads(CAMPAIGN.campaign_id)
    assert starts[0] == 0 and starts[1] > 0, starts  # the link was cut half-way and resumed with a Range
    exchanges = http_exchanges(load_evidence(tmp_path / "capture.pcapng", None, readable_keylog(keylog)).flows)
    assert {(e.server, e.server_name) for e in exchanges} == {(str(ota), ota.name)}
    assert [e.status for e in package_downloads(exchanges, CAMPAIGN.package_url)][:2] == [200, 206]
    assert any(e.path == "/ota/v1/campaigns" and str(CAMPAIGN.campaign_id).encode() in e.body for e in exchanges)


def test_a_vehicle_trusting_another_ca_gets_nothing_and_the_notice_is_inconclusive(cloud, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    rig, _, ota, _ = cloud
    stranger = RigCa(tmp_path / "stranger").vehicle_material("LHVTEST0000000001")
    keylog = tmp_path / "keylog.txt"
    seen = _client(rig, ota, stranger, keylog, tmp_path / "capture.pcapng")
    assert "CERTIFICATE_VERIFY_FAILED" in str(seen.get("error")), seen
    evidence = load_evidence(tmp_path / "capture.pcapng", None, readable_keylog(keylog))
    findings = check_notice(evidence, policy(), campaign_id=CAMPAIGN.campaign_id)
    assert [f.verdict.value for f in findings] == ["inconclusive"]
    detail = findings[0].detail
    assert f"TLS to {ota.name} ({ota}): handshake without application data" in detail and "\n" not in detail
