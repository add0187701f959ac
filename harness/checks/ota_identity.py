"""Software identification and package authenticity: the software version read over UDS
(ReadDataByIdentifier 0xF195, on CAN or DoIP) is the installed campaign's, and only packages whose
digest and maker's signature verify are ever installed.

Authenticity is re-checked here from the captured bytes: the package as downloaded, the digest and
signature in the campaign metadata, and the maker's public key (the trust anchor)."""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from harness.checks.ota_timeline import INSTALLING, campaign_runs, shown, status_records, version_of
from harness.checks.registry import register
from harness.diag.transcript import UdsExchange, doip_exchanges, isotp_exchanges
from harness.findings import Finding, Verdict, doubt
from harness.net.evidence import Evidence
from harness.net.ota_campaign import CampaignMetadata
from harness.net.ota_wire import (
    Exchange,
    http_exchanges,
    opaque_sessions,
    package_downloads,
    reassemble_package,
    served_campaigns,
)
from harness.policy.policy import Policy

CHECK = "ota-software-identification"
SOFTWARE_VERSION_DID = 0xF195


def software_reads(exchanges: list[UdsExchange], did: int = SOFTWARE_VERSION_DID) -> list[UdsExchange]:
    wanted = bytes([0x22]) + did.to_bytes(2, "big")
    return [e for e in exchanges if e.request[:3] == wanted]


@register(CHECK)
def check_software_identification(evidence: Evidence, policy: Policy, *, trust_anchor: str | None = None,
                                  can_request_id: int | None = None, can_response_id: int | None = None,
                                  rule_id: str = "ota.software-identification") -> list[Finding]:
    """`trust_anchor`: the maker's Ed25519 public key (PEM) genuine packages verify against."""
    clause = policy.profile.rule(rule_id).primary
    uds = doip_exchanges(evidence.flows)
    if can_request_id is not None and can_response_id is not None:
        uds += isotp_exchanges(evidence.can, can_request_id, can_response_id)
    reads = sorted(software_reads(uds), key=lambda e: e.time)
    exchanges = http_exchanges(evidence.flows)
    served = served_campaigns(exchanges, opaque_sessions(evidence.flows))
    unread = served.unread_detail()
    runs = campaign_runs(evidence)
    findings = _identification(evidence, reads, runs, served.campaigns, clause, unread)
    key = _key(trust_anchor)
    for ident, run in sorted(runs.items()):
        installed = run.install_start is not None and \
            run.install_start.values.get("ota.status.state") in INSTALLING | {"Completed"}
        findings.append(_authenticity(ident, installed, served.campaigns.get(ident), exchanges, key, clause,
                                      unread))
    if hidden := served.hidden_note():
        doubt(findings, CHECK, clause, f"{hidden}: the version or package judged may not be the one the vehicle got",
              "tls")
    return findings


def _key(pem: str | None) -> Ed25519PublicKey | None:
    if not pem:
        return None
    try:
        key = load_pem_public_key(pem.encode("ascii"))
    except ValueError:
        return None
    return key if isinstance(key, Ed25519PublicKey) else None


def _identification(evidence: Evidence, reads: list[UdsExchange], runs: dict[int, Any],
                    campaigns: dict[int, CampaignMetadata], clause: str, unread: str = "") -> list[Finding]:
    completed = sorted((run.end.time, ident) for ident, run in runs.items()
                       if run.end is not None and run.end.values.get("ota.status.state") == "Completed")
    status = status_records(evidence)
    baseline = version_of(status[0]) if status else None
    findings: list[Finding] = []
    for read in reads:
        where: dict[str, Any] = dict(src=read.where, protocol=read.transport, time=read.time)
        if read.response is None:
            findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                    "ReadDataByIdentifier 0xF195 got no answer", **where))
            continue
        if read.negative_code is not None:
            findings.append(Finding(CHECK, Verdict.FAIL, clause, (
                f"the software version (0xF195) is not readable: negative response 0x{read.negative_code:02X}"),
                **where))
            continue
        text = read.response[3:].decode("ascii", "replace").strip("\x00 ")
        before = [ident for when, ident in completed if when <= read.time]
        if before:
            campaign = campaigns.get(before[-1])
            if campaign is None:
                findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
                    f"0xF195 reads {text!r} after campaign {before[-1]} completed, whose metadata is not in the "
                    f"capture{unread}"), **where))
            elif text != campaign.version:
                findings.append(Finding(CHECK, Verdict.FAIL, clause, (
                    f"after campaign {campaign.campaign_id} completed, 0xF195 reads {text!r}, not the campaign's "
                    f"version {campaign.version}"), **where))
            else:
                findings.append(Finding(CHECK, Verdict.PASS, clause, (
                    f"after campaign {campaign.campaign_id} completed, 0xF195 reads the campaign's version "
                    f"{text}"), **where))
        elif baseline is not None and text != shown(baseline):
            findings.append(Finding(CHECK, Verdict.FAIL, clause, (
                f"before any update, 0xF195 reads {text!r} while the vehicle shows version {shown(baseline)}"),
                **where))
        else:
            findings.append(Finding(CHECK, Verdict.PASS, clause, f"before the update, 0xF195 reads {text}", **where))
    if completed and not any(r.time >= completed[-1][0] for r in reads):
        findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                f"the software version was not read over UDS after campaign {completed[-1][1]} "
                                "completed", protocol="can"))
    if not completed:
        findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                                "no update completed, so the identification of new software was not exercised",
                                protocol="can"))
    return findings


def _authenticity(ident: int, installed: bool, campaign: CampaignMetadata | None, exchanges: list[Exchange],
                  key: Ed25519PublicKey | None, clause: str, unread: str = "") -> Finding:
    if campaign is None:
        verdict = Verdict.INCONCLUSIVE if installed else Verdict.PASS
        return Finding(CHECK, verdict, clause, f"campaign {ident}: its metadata is not in the capture{unread}" + (
            ", so the installed package cannot be verified" if installed else "; nothing was installed"),
            protocol="http")
    downloads = package_downloads(exchanges, campaign.package_url)
    package = reassemble_package(downloads, campaign.package_size)
    where: dict[str, Any] = dict(protocol="http", time=downloads[0].time if downloads else None)
    if package is None:
        verdict = Verdict.INCONCLUSIVE if installed else Verdict.PASS
        return Finding(CHECK, verdict, clause, f"campaign {ident}: the whole package is not in the capture" + (
            ", so what was installed cannot be verified" if installed else "; nothing was installed"), **where)
    problems = []
    if hashlib.sha256(package).hexdigest() != campaign.package_sha256:
        problems.append("its digest does not match the metadata")
    if key is None:
        return Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                       f"campaign {ident}: no trust anchor to verify the package's signature with", **where)
    try:
        key.verify(campaign.package_signature, package)
    except InvalidSignature:
        problems.append("its signature does not verify against the maker's key")
    if problems and installed:
        return Finding(CHECK, Verdict.FAIL, clause,
                       f"campaign {ident}: a package was installed although {' and '.join(problems)}", **where)
    if problems:
        return Finding(CHECK, Verdict.PASS, clause,
                       f"campaign {ident}: the vehicle refused the package: {' and '.join(problems)}", **where)
    return Finding(CHECK, Verdict.PASS, clause, f"campaign {ident}: the package's digest and signature verify"
                   + ("; it was installed" if installed else ""), **where)
