"""OTA campaigns as they crossed the wire: the backend's campaign metadata and package downloads
read back from captured HTTP exchanges.

The checks compare what the vehicle showed and did with what it was actually sent, so the
campaign under judgment comes from the capture, not from the test's own account of it."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness.net.flows import TCP, FlowTable
from harness.net.http import looks_like_http, parse_messages
from harness.net.ota_campaign import CampaignMetadata, MalformedCampaign, parse_campaign
from harness.net.payload_model import StreamClock

CAMPAIGN_LIST_PATH = "/ota/v1/campaigns"


# -- HTTP exchanges in the capture -----------------------------------------------------------------
@dataclass(frozen=True)
class Exchange:
    """One HTTP request from the vehicle and the response it got, as captured."""

    time: float                 # when the request was sent
    method: str
    target: str
    headers: dict[str, str]
    status: int                 # 0: no response captured
    response_time: float | None
    response_headers: dict[str, str]
    body: bytes
    cut: bool                   # the response body ended before its announced length

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


def http_exchanges(flows: FlowTable) -> list[Exchange]:
    """Every HTTP/1.x request over plain TCP with its response, in capture order."""
    exchanges: list[Exchange] = []
    for flow in flows.flows.values():
        if flow.protocol != TCP:
            continue
        sent, _, sent_times = flow.to_server.stream_with_times()
        if not looks_like_http(sent):
            continue
        requests, _ = parse_messages(sent)
        requests = [m for m in requests if m.is_request]
        received, _, received_times = flow.to_client.stream_with_times()
        responses, _ = parse_messages(received, [m.method for m in requests]) if received else ([], None)
        sent_clock, received_clock = StreamClock(sent_times), StreamClock(received_times)
        for index, request in enumerate(requests):
            response = responses[index] if index < len(responses) else None
            exchanges.append(Exchange(
                time=sent_clock.at(request.offset), method=request.method, target=request.target,
                headers=dict(request.headers),
                status=response.status if response else 0,
                response_time=received_clock.at(response.offset) if response else None,
                response_headers=dict(response.headers) if response else {},
                body=response.body if response else b"",
                cut=bool(response and any("cut off" in p for p in response.problems)),
            ))
    exchanges.sort(key=lambda e: e.time)
    return exchanges


@dataclass
class ServedCampaigns:
    """The campaigns the backend described to the vehicle: the last valid description of each,
    when the vehicle first got it, and what was wrong with descriptions that were malformed."""

    campaigns: dict[int, CampaignMetadata] = field(default_factory=dict)
    first_seen: dict[int, float] = field(default_factory=dict)
    malformed: dict[int | None, str] = field(default_factory=dict)  # None: an entry without a usable id
    lists: int = 0   # campaign-list responses seen


def served_campaigns(exchanges: Iterable[Exchange]) -> ServedCampaigns:
    served = ServedCampaigns()
    for exchange in exchanges:
        if exchange.method != "GET" or exchange.path != CAMPAIGN_LIST_PATH or exchange.status != 200:
            continue
        served.lists += 1
        try:
            body = json.loads(exchange.body)
            entries = body["campaigns"]
            if not isinstance(entries, list):
                raise TypeError("campaigns is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            served.malformed[None] = f"campaign list at {exchange.time:.3f} is not a JSON campaign list: {exc}"
            continue
        for entry in entries:
            ident = entry.get("campaign_id") if isinstance(entry, Mapping) else None
            key = ident if isinstance(ident, int) and not isinstance(ident, bool) else None
            try:
                campaign = parse_campaign(entry)
            except MalformedCampaign as exc:
                served.malformed[key] = str(exc)
                continue
            served.malformed.pop(campaign.campaign_id, None)
            served.campaigns[campaign.campaign_id] = campaign
            served.first_seen.setdefault(campaign.campaign_id, exchange.time)
    return served


def package_downloads(exchanges: Iterable[Exchange], url: str) -> list[Exchange]:
    return [e for e in exchanges if e.method == "GET" and e.path == urlsplit(url).path]


def reassemble_package(downloads: Iterable[Exchange], size: int) -> bytes | None:
    """The package bytes from full and ranged (206) responses, or None if some byte never arrived."""
    data = bytearray(size)
    have = bytearray(size)
    for exchange in downloads:
        if exchange.status == 200:
            start = 0
        elif exchange.status == 206:
            ranged = exchange.response_headers.get("content-range", "")
            try:
                start = int(ranged.split(" ", 1)[1].split("-", 1)[0])
            except (IndexError, ValueError):
                continue
        else:
            continue
        chunk = exchange.body[:max(0, size - start)]
        data[start:start + len(chunk)] = chunk
        have[start:start + len(chunk)] = b"\x01" * len(chunk)
    return bytes(data) if size and have.count(0) == 0 else None
