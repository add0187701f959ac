"""OTA campaigns as they crossed the wire: the backend's campaign metadata and package downloads
read back from captured HTTP exchanges, over plain TCP or TLS the key log opens.

The checks compare what the vehicle showed and did with what it was actually sent, so the
campaign under judgment comes from the capture, not from the test's own account of it. TLS sessions
the key log cannot open are listed too: a campaign may have been described in one of them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from harness.net.flows import TCP, FlowTable
from harness.net.http import looks_like_http, parse_messages
from harness.net.ota_campaign import CampaignMetadata, MalformedCampaign, parse_campaign
from harness.net.payload_model import StreamClock
from harness.net.tls import looks_like_tls, tls_session

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

    server: str = ""            # address:port the request went to
    server_name: str = ""       # the name the vehicle asked for: TLS SNI, else the Host header

    @property
    def path(self) -> str:
        return urlsplit(self.target).path


@dataclass(frozen=True)
class OpaqueSession:
    """A TLS session of the vehicle's whose application data the capture does not let us read."""

    time: float
    server: str
    server_name: str
    why: str
    carried_data: bool          # False: the vehicle sent no request in it (a refused or failed handshake)

    def __str__(self) -> str:
        to = f"{self.server_name} ({self.server})" if self.server_name else self.server
        return f"TLS to {to}: " + (self.why if self.carried_data else "handshake without application data")


def http_exchanges(flows: FlowTable) -> list[Exchange]:
    """Every HTTP/1.x request over plain TCP or decrypted TLS with its response, in capture order."""
    exchanges: list[Exchange] = []
    for flow in flows.flows.values():
        if flow.protocol != TCP:
            continue
        sent, _, sent_times = flow.to_server.stream_with_times()
        server_name = ""
        if looks_like_tls(sent):
            session = tls_session(flow)
            opening = session.opening() if session.data_records(True) else "no application data"
            if isinstance(opening, str) or not looks_like_http(opening):
                continue  # unread (see opaque_sessions), or another protocol: not decrypted further
            plain = session.plaintext()
            if isinstance(plain, str):
                continue
            sent, sent_times = plain[True].data, plain[True].times
            received, received_times = plain[False].data, plain[False].times
            server_name = session.hello.sni
        elif looks_like_http(sent):
            received, _, received_times = flow.to_client.stream_with_times()
        else:
            continue
        exchanges += _exchanges(sent, sent_times, received, received_times, str(flow.server), server_name)
    exchanges.sort(key=lambda e: e.time)
    return exchanges


def _exchanges(sent: bytes, sent_times: list[tuple[int, float]], received: bytes,
               received_times: list[tuple[int, float]], server: str, server_name: str) -> list[Exchange]:
    requests, _ = parse_messages(sent)
    requests = [m for m in requests if m.is_request]
    responses, _ = parse_messages(received, [m.method for m in requests]) if received else ([], None)
    sent_clock, received_clock = StreamClock(sent_times), StreamClock(received_times)
    out = []
    for index, request in enumerate(requests):
        response = responses[index] if index < len(responses) else None
        headers = dict(request.headers)
        out.append(Exchange(
            time=sent_clock.at(request.offset), method=request.method, target=request.target,
            headers=headers,
            status=response.status if response else 0,
            response_time=received_clock.at(response.offset) if response else None,
            response_headers=dict(response.headers) if response else {},
            body=response.body if response else b"",
            cut=bool(response and any("cut off" in p for p in response.problems)),
            server=server, server_name=server_name or _host(headers),
        ))
    return out


def _host(headers: Mapping[str, str]) -> str:
    """The Host header without its port."""
    host = headers.get("host", "").strip().lower()
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.split(":", 1)[0] if host.count(":") == 1 else host


def opaque_sessions(flows: FlowTable) -> list[OpaqueSession]:
    """The TLS sessions whose application data cannot be read (no key log, no secret for the session,
    decryption failed), and handshakes that never got as far as exchanging any."""
    opaque = []
    for flow in flows.flows.values():
        if flow.protocol != TCP or not looks_like_tls(flow.to_server.stream()[0]):
            continue
        session = tls_session(flow)
        carried = bool(session.data_records(True))  # a request is what an exchange needs: the client's data
        opening = session.opening() if carried else "no application data"
        if not isinstance(opening, str) and (not opening or looks_like_http(opening)):
            read = session.plaintext()  # HTTP (or nothing yet from the client): read to the end
            opening = read if isinstance(read, str) else opening
        if isinstance(opening, str):
            opaque.append(OpaqueSession(flow.first_time, str(flow.server), session.hello.sni, opening, carried))
    opaque.sort(key=lambda o: o.time)
    return opaque


@dataclass
class ServedCampaigns:
    """The campaigns the backend described to the vehicle: the last valid description of each,
    when the vehicle first got it, and what was wrong with descriptions that were malformed."""

    campaigns: dict[int, CampaignMetadata] = field(default_factory=dict)
    first_seen: dict[int, float] = field(default_factory=dict)
    malformed: dict[int | None, str] = field(default_factory=dict)  # None: an entry without a usable id
    lists: int = 0   # campaign-list responses seen
    opaque: list[OpaqueSession] = field(default_factory=list)   # TLS sessions not read, to any server
    servers: set[str] = field(default_factory=set)              # where campaign lists came from: address:port
    names: set[str] = field(default_factory=set)                # ... and by name

    @property
    def hidden(self) -> list[OpaqueSession]:
        """Unread sessions with the backend that served the campaign lists: each may have carried a
        campaign description (or a package) the capture cannot show."""
        return [o for o in self.opaque if o.carried_data and (
            o.server_name in self.names if o.server_name and self.names else o.server in self.servers)]

    def unread(self) -> str:
        """Why no campaign list may be in the capture, for a finding's detail ("" when nothing was unread)."""
        if not self.opaque:
            return ""
        shown = "; ".join(str(o) for o in self.opaque[:3])
        more = f" (and {len(self.opaque) - 3} more)" if len(self.opaque) > 3 else ""
        return f"{len(self.opaque)} TLS session{'s' if len(self.opaque) != 1 else ''} not read: {shown}{more}"

    def unread_detail(self) -> str:
        """`unread()` as a parenthesis to append to a finding's detail ("" when nothing was unread)."""
        return f" ({self.unread()})" if self.opaque else ""

    def hidden_note(self) -> str:
        """What a verdict that relies on the campaigns must say when some backend sessions were not read
        ("" when none): the campaign or package judged may not be the one the vehicle got."""
        hidden = self.hidden
        if not hidden:
            return ""
        return (f"{len(hidden)} TLS session{'s' if len(hidden) != 1 else ''} with the OTA backend could not be "
                f"read ({hidden[0].why}), so what the backend sent there is unknown")


def served_campaigns(exchanges: Iterable[Exchange], opaque: Iterable[OpaqueSession] = ()) -> ServedCampaigns:
    """`opaque`: the capture's unread TLS sessions, so a check can tell which could hide a campaign."""
    served = ServedCampaigns(opaque=list(opaque))
    for exchange in exchanges:
        if exchange.method != "GET" or exchange.path != CAMPAIGN_LIST_PATH or exchange.status != 200:
            continue
        served.lists += 1
        served.servers.add(exchange.server)
        if exchange.server_name:
            served.names.add(exchange.server_name)
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
