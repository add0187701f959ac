"""Chromium's net log (`--log-net-log=FILE`) read back: which requests a page made, which the browser made
on its own, and whether any connection to an address outside loopback ever got through.

DevTools shows what a page requested; the net log shows every attempt, including DNS lookups and sockets
the browser opened for itself, so the tests can say what was tried and that none of it left."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# Chromium writes this initiator for requests no page started (its update and time services)
BROWSER_INITIATOR = "not an origin"
LOCAL_SCHEMES = frozenset({"file", "data", "about", "blob"})


def local_url(url: str) -> bool:
    """A URL that stays on this machine: a file, inline data, or a loopback address."""
    parts = urlsplit(url)
    if parts.scheme in LOCAL_SCHEMES:
        return True
    return loopback(parts.hostname or "")


def loopback(host: str) -> bool:
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Request:
    url: str
    initiator: str

    @property
    def by_page(self) -> bool:
        return self.initiator != BROWSER_INITIATOR


@dataclass(frozen=True)
class Connection:
    address: str  # "ip:port" or "[ip]:port"
    error: str    # '' when the connection was made

    @property
    def host(self) -> str:
        return self.address.rsplit(":", 1)[0].strip("[]")


@dataclass(frozen=True)
class NetLog:
    events: tuple[dict[str, Any], ...]
    types: dict[int, str]

    @classmethod
    def read(cls, path: Path) -> NetLog:
        text = path.read_text(encoding="utf-8", errors="replace")
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            # a browser that was killed leaves the event list open; close it after the last whole event
            data = json.loads(text[: text.rstrip().rfind("},") + 1] + "]}")
        types = {number: name for name, number in data["constants"]["logEventTypes"].items()}
        return cls(tuple(data.get("events") or ()), types)

    def _named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if self.types.get(e["type"]) == name]

    def requests(self) -> list[Request]:
        """Every URL request the network stack started, with who started it."""
        return [Request(str(e["params"]["url"]), str(e["params"].get("initiator", "")))
                for e in self._named("URL_REQUEST_START_JOB") if "url" in e.get("params", {})]

    def connections(self) -> list[Connection]:
        """Every TCP and UDP connect the browser attempted, and how it ended."""
        outcome: dict[int, str] = {}
        started: list[tuple[int, str]] = []
        for name in ("TCP_CONNECT_ATTEMPT", "UDP_CONNECT"):
            for event in self._named(name):
                source, params = event["source"]["id"], event.get("params") or {}
                if event.get("phase") == 1 and "address" in params:
                    started.append((source, str(params["address"])))
                elif event.get("phase") == 2:
                    error = params.get("net_error", params.get("os_error", ""))
                    outcome[source] = str(error)
        return [Connection(address, outcome.get(source, "unfinished")) for source, address in started]

    def outside(self) -> tuple[list[Request], list[Connection]]:
        """Requests a page made to a non-local address, and connections outside loopback that got through
        (or never ended, so cannot be ruled out)."""
        pages = [r for r in self.requests() if r.by_page and not local_url(r.url)]
        through = [c for c in self.connections() if c.error in ("", "unfinished") and not loopback(c.host)]
        return pages, through
