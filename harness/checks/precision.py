"""Location precision: positions sent to a destination are no finer than the precision its declared
purpose allows (`location_precision_m` in the netmap).

Method: a sender that limits precision puts every position on a grid, by rounding to a number of
decimal places (0.001 deg) or by snapping to a metric grid (k x 100 m expressed in degrees). For
each destination the check collects the decoded positions and estimates, separately for latitude
and longitude, the coarsest grid step that all distinct values share: the smallest difference
between sorted distinct values divided by 1, 2, 3 ... until every difference between neighbours
(up to 100 steps apart) is a whole multiple of the step within 2e-7 deg (2 cm, the CAN GNSS
resolution plus rounding); two neighbours closer than the precision settle it at once. Only steps no finer
than the declared precision are tried; if none fits, the sender is finer than declared: `fail`.
Degrees become metres with 111,320 m per degree, times cos(latitude) for longitude. A few
positions could share a coarse grid by chance, so fewer than `min_positions` distinct values on an
axis is `inconclusive`; so is a position the decoders saw as a category but could not read.
Random noise added instead of rounding is indistinguishable from precise data and fails. Positions
spaced exactly evenly (constant speed, perfectly periodic sampling, no GNSS noise) would look like a
grid; real and simulated tracks carry jitter far above the 2 cm tolerance."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from harness.checks.registry import register
from harness.checks.traffic import Sent, completeness, nothing_captured, purposes_for, vehicle_traffic
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence
from harness.policy.netmap import Netmap
from harness.policy.policy import Policy

CHECK = "location-precision"
METRES_PER_DEGREE = 111_320.0
TOLERANCE_DEG = 2e-7
SLACK = 0.99  # metres-per-degree is an approximation; a sender on exactly the declared grid passes
MAX_DIVISOR = 100_000
MAX_MULTIPLE = 100


@dataclass(frozen=True)
class GridFit:
    """The coarsest grid step (degrees) no finer than the floor that fits, or None if none fits;
    `differences` is how many neighbouring values the fit rests on."""

    step: float | None
    differences: int


def grid_step(values: list[float], floor: float) -> GridFit:
    """The coarsest step no finer than `floor` on which all `values` lie.

    Only neighbours up to MAX_MULTIPLE steps apart are compared: farther jumps (another drive, another
    city) multiply the rounding error of the step estimate beyond the tolerance."""
    distinct = sorted({round(v, 9) for v in values})
    diffs = [b - a for a, b in zip(distinct, distinct[1:], strict=False) if b - a > TOLERANCE_DEG]
    if not diffs:
        return GridFit(None, 0)
    smallest = min(diffs)
    if smallest < floor:
        return GridFit(None, len(diffs))  # two positions closer than the declared precision
    for divisor in range(1, min(int(smallest / floor), MAX_DIVISOR) + 1):
        guess = smallest / divisor
        near = [d for d in diffs if d <= MAX_MULTIPLE * guess]
        counts = [round(d / guess) for d in near]
        # least squares over every difference: the rounding of each value blurs the smallest one
        step = sum(d * n for d, n in zip(near, counts, strict=True)) / sum(n * n for n in counts)
        if step >= floor and all(abs(d - n * step) <= TOLERANCE_DEG for d, n in zip(near, counts, strict=True)):
            return GridFit(step, len(near))
    return GridFit(None, len(diffs))


def decimals(value: float) -> int:
    text = repr(float(value))
    if "e" in text or "." not in text:
        return 0
    return len(text.split(".")[1].rstrip("0"))


@dataclass
class _Positions:
    flows: list[Sent]
    points: list[tuple[float, float, float]]  # (time, latitude, longitude)
    unread: int = 0


def declared_precision(netmap: Netmap, sent: Sent) -> float | None:
    """The finest precision any location purpose of the destination allows; None if unlimited."""
    limits = [p.location_precision_m for p in purposes_for(netmap, sent) if "location" in p.categories]
    if not limits or any(limit is None for limit in limits):
        return None
    return min(limit for limit in limits if limit is not None)


@register("location-precision")
def check_precision(evidence: Evidence, policy: Policy, *, min_positions: int = 6,
                    rule_id: str = "minimization.precision") -> list[Finding]:
    netmap = policy.netmap
    clause = policy.profile.rule(rule_id).primary
    findings = completeness(evidence, CHECK, clause)
    sent = vehicle_traffic(evidence, netmap)
    empty = nothing_captured(sent, CHECK, clause)
    if empty is not None:
        return [*findings, empty]
    by_destination: dict[tuple[str, float], _Positions] = defaultdict(lambda: _Positions([], []))
    for flow in sent:
        limit = declared_precision(netmap, flow)
        if limit is None or "location" not in flow.payload.categories:
            continue
        group = by_destination[(flow.address, limit)]
        group.flows.append(flow)
        for item in flow.payload.items:
            if item.location is not None and _on_earth(*item.location):
                group.points.append((item.time, *item.location))
            elif item.location is not None or "location" in item.categories:
                group.unread += 1
    if not by_destination:
        findings.append(Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
            "no position was sent to a destination whose purpose declares a location precision; nothing to judge")))
    for (address, limit), group in sorted(by_destination.items()):
        findings.append(_judge(address, limit, group, min_positions, clause))
    return findings


def _on_earth(latitude: float, longitude: float) -> bool:
    """Degrees a position can take: anything else is a number the decoders took for one, and on its
    odd grid (n / step instead of n * step) any precision would seem to pass."""
    return abs(latitude) <= 90.0 and abs(longitude) <= 180.0


def _judge(address: str, limit: float, group: _Positions, min_positions: int, clause: str) -> Finding:
    first = group.flows[0]
    where = first.where(("location",), group.points[0][0] if group.points else None)
    if group.unread:
        return Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
            f"{group.unread} messages to {address} carry a location the decoders could not read as "
            f"latitude/longitude within +-90/+-180 degrees; their precision is unknown"), **where)
    lats = [lat for _, lat, _ in group.points]
    lons = [lon for _, _, lon in group.points]
    mean_lat = math.radians(sum(lats) / len(lats))
    lat_floor = SLACK * limit / METRES_PER_DEGREE
    lon_floor = SLACK * limit / (METRES_PER_DEGREE * max(math.cos(mean_lat), 1e-6))
    lat_fit, lon_fit = grid_step(lats, lat_floor), grid_step(lons, lon_floor)
    lat_step, lon_step = lat_fit.step, lon_fit.step
    resting = min(lat_fit.differences, lon_fit.differences)
    if resting == 0 or (lat_step is not None and lon_step is not None and resting < min_positions - 1):
        return Finding(CHECK, Verdict.INCONCLUSIVE, clause, (
            f"{len(group.points)} positions to {address} give only {resting + 1} neighbouring distinct values "
            f"on one axis (at least {min_positions} are needed to tell a grid from chance)"), **where)
    if lat_step is None or lon_step is None:
        worst = max(group.points, key=lambda p: decimals(p[1]) + decimals(p[2]))
        places = max(decimals(worst[1]), decimals(worst[2]))
        axes = " and ".join(a for a, s in (("latitude", lat_step), ("longitude", lon_step)) if s is None)
        return Finding(CHECK, Verdict.FAIL, clause, (
            f"positions sent to {address} are finer than the declared {limit:g} m: no grid of {limit:g} m fits "
            f"the {axes} of {len(group.points)} positions, e.g. ({worst[1]!r}, {worst[2]!r}) with {places} "
            f"decimal places (about {METRES_PER_DEGREE * 10 ** -places:.2g} m)"),
            **first.where(("location",), worst[0]))
    lat_m = lat_step * METRES_PER_DEGREE
    lon_m = lon_step * METRES_PER_DEGREE * math.cos(mean_lat)
    return Finding(CHECK, Verdict.PASS, clause, (
        f"{len(group.points)} positions to {address} lie on a grid of {lat_m:.0f} m x {lon_m:.0f} m "
        f"(latitude x longitude), no finer than the declared {limit:g} m"), **where)
