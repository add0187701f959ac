"""OTA notice: before the download and the installation the owner is shown the update's purpose,
content, estimated duration, cautions and unavailable functions, matching the campaign.

The campaign is read from the backend's metadata in the IP capture, the notice from OtaNotice on
CAN (every page; NoticeDigest is the CRC-32 of the texts displayed); both on one timeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.checks.ota_timeline import INSTALLING, doubt_lost_frames, status_records
from harness.checks.registry import register
from harness.findings import Finding, Verdict, doubt
from harness.net.evidence import CanRecord, Evidence
from harness.net.ota_campaign import CAUTIONS, FUNCTIONS, CampaignMetadata, bitmask
from harness.net.ota_wire import http_exchanges, opaque_sessions, package_downloads, served_campaigns
from harness.policy.policy import Policy

CHECK = "ota-notice"
PAGES = frozenset({0, 1, 2})


@dataclass
class Display:
    """One complete rotation of the notice's pages for a campaign, as the screen received them."""

    campaign_id: int
    time: float = 0.0           # when the last page arrived: from then on the whole notice was shown
    values: dict[str, Any] = field(default_factory=dict)
    pages: set[int] = field(default_factory=set)
    first: CanRecord | None = None


def displays(records: list[CanRecord]) -> list[Display]:
    """Every complete notice: pages 0, 1 and 2 seen after a page 0 naming the campaign."""
    out: list[Display] = []
    current: Display | None = None
    for record in records:
        if "ota.notice.page" not in record.values:
            continue
        page = int(record.values["ota.notice.page"])
        if page == 0:
            ident = int(record.values.get("ota.notice.campaign_id", 0))
            if current is None or current.campaign_id != ident or current.pages == PAGES:
                current = Display(ident, first=record) if ident else None
        if current is None:
            continue
        current.values.update(record.values)
        current.pages.add(page)
        if current.pages == PAGES and (not out or out[-1] is not current):
            current.time = record.time
            out.append(current)
    return out


def compare(display: Display, campaign: CampaignMetadata) -> list[str]:
    """What the screen showed differently from the campaign (empty when it matches)."""
    v = display.values
    shown_version = (int(v.get("ota.notice.version_major", -1)), int(v.get("ota.notice.version_minor", -1)),
                     int(v.get("ota.notice.version_patch", -1)))
    expected = {
        "estimated duration": (int(v.get("ota.notice.duration_min", -1)), campaign.duration_min, "min"),
        "target version": (".".join(map(str, shown_version)), campaign.version, ""),
        "purpose": (str(v.get("ota.notice.purpose")), campaign.purpose, ""),
        "unavailable functions": (int(v.get("ota.notice.unavailable", -1)),
                                  bitmask(campaign.unavailable, FUNCTIONS), "(bitmask)"),
        "cautions": (int(v.get("ota.notice.cautions", -1)), bitmask(campaign.cautions, CAUTIONS), "(bitmask)"),
        "notice texts (purpose, content, cautions; NoticeDigest)": (
            f"0x{int(v.get('ota.notice.digest', 0)):08X}", f"0x{campaign.digest:08X}", ""),
    }
    return [f"{name} shown as {got}{(' ' + unit) if unit else ''}, the campaign says {want}"
            for name, (got, want, unit) in expected.items() if got != want]


@register(CHECK)
def check_notice(evidence: Evidence, policy: Policy, *, campaign_id: int | None = None,
                 rule_id: str = "ota.notice") -> list[Finding]:
    clause = policy.profile.rule(rule_id).primary
    exchanges = http_exchanges(evidence.flows)
    served = served_campaigns(exchanges, opaque_sessions(evidence.flows))
    wanted = [campaign_id] if campaign_id is not None else sorted(set(served.campaigns) | {
        k for k in served.malformed if k is not None})
    if not wanted:
        why = ("campaign metadata was malformed: " + "; ".join(served.malformed.values())) if served.malformed \
            else "no campaign metadata from the OTA backend in the capture " + (
                f"({served.unread()})" if served.opaque else "(encrypted, or never polled)")
        verdict = Verdict.ERROR if served.malformed else Verdict.INCONCLUSIVE
        return [Finding(CHECK, verdict, clause, f"nothing to compare the notice with: {why}", protocol="http")]
    shown = displays(evidence.can)
    status = status_records(evidence)
    findings: list[Finding] = []
    for ident in wanted:
        findings += _judge(ident, served.campaigns.get(ident), served.malformed.get(ident), shown, status,
                           exchanges, clause, served.unread_detail())
    if hidden := served.hidden_note():
        doubt(findings, CHECK, clause, f"{hidden}: the notice may have been judged against a campaign the vehicle "
              "was not last sent", "tls")
    doubt_lost_frames(findings, evidence, CHECK, clause, ("ota.notice.page", "ota.status.state"),
                      "a page of the notice may be missing")
    problems = "; ".join(evidence.completeness_problems())
    if problems:
        doubt(findings, CHECK, clause, f"{problems}: a download before the notice could have been missed", "http")
    return findings


def _judge(ident: int, campaign: CampaignMetadata | None, malformed: str | None, shown: list[Display],
           status: list[CanRecord], exchanges: list[Any], clause: str, unread: str = "") -> list[Finding]:
    if campaign is None:
        if malformed:
            return [Finding(CHECK, Verdict.ERROR, clause,
                            f"campaign {ident}: the backend's metadata is malformed, so the notice cannot be "
                            f"judged against it: {malformed}", protocol="http")]
        return [Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                        f"campaign {ident}: its metadata is not in the capture{unread}; nothing to compare the "
                        "notice with",
                        protocol="http")]
    mine = [d for d in shown if d.campaign_id == ident]
    downloads = package_downloads(exchanges, campaign.package_url)
    installing = next((r for r in status if r.values.get("ota.status.campaign_id") == ident
                       and r.values.get("ota.status.state") in INSTALLING | {"Completed"}), None)
    if not mine:
        if downloads or installing is not None:
            what = "downloaded" if downloads else "installed"
            when = downloads[0].time if downloads else installing.time  # type: ignore[union-attr]
            return [Finding(CHECK, Verdict.FAIL, clause,
                            f"campaign {ident}: the update was {what} without the owner ever being shown a "
                            "complete notice", protocol="can", time=when)]
        return [Finding(CHECK, Verdict.INCONCLUSIVE, clause,
                        f"campaign {ident}: the vehicle never showed a complete notice, and did not update either",
                        protocol="can")]
    findings: list[Finding] = []
    for display in mine:
        source = f"can:0x{display.first.arbitration_id:03X}" if display.first is not None else ""
        where: dict[str, Any] = dict(src=source, protocol="can", time=display.time)
        wrong = compare(display, campaign)
        if wrong:
            findings.append(Finding(CHECK, Verdict.FAIL, clause,
                                    f"campaign {ident}: the notice does not match the campaign: {'; '.join(wrong)}",
                                    **where))
            break  # one wrong rendering is the violation; the same error repeats on every page cycle
    first = mine[0].time
    late = [(what, when) for what, when in (
        ("the package download", downloads[0].time if downloads else None),
        ("the installation", installing.time if installing is not None else None)) if when is not None and when < first]
    for what, when in late:
        findings.append(Finding(CHECK, Verdict.FAIL, clause,
                                f"campaign {ident}: {what} began before the notice was complete on screen",
                                protocol="can", time=when))
    if not findings:
        findings.append(Finding(CHECK, Verdict.PASS, clause, (
            f"campaign {ident}: the notice showed purpose {campaign.purpose}, version {campaign.version}, "
            f"{campaign.duration_min} min, cautions, unavailable functions and texts (digest "
            f"0x{campaign.digest:08X}) as the campaign says, before download and installation"),
            protocol="can", time=first))
    return findings
