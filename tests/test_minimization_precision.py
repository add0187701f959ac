"""The location-precision check: decimal rounding and metric grids no finer than declared pass,
finer positions fail, too little evidence is inconclusive; and the grid estimate as a property."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from harness.checks.precision import METRES_PER_DEGREE, check_precision, grid_step
from harness.findings import Verdict, overall
from tests.synthetic_evidence import Conversation, evidence, http_post, mqtt_connect, mqtt_publish, policy

ROUTE = [(31.2304 + 0.00037 * i, 121.4737 + 0.00051 * i) for i in range(12)]  # ~60 m steps


def _telemetry(points: list[tuple[float, float]]) -> Conversation:
    conversation = Conversation("203.0.113.10", 1883).send(0.5, mqtt_connect())
    for i, (lat, lon) in enumerate(points):
        conversation.send(1 + i, mqtt_publish({"vin": "V", "lat": lat, "lon": lon}))
    return conversation


def _maps(points: list[tuple[float, float]]) -> Conversation:
    conversation = Conversation("203.0.113.50", 8080)
    for i, (lat, lon) in enumerate(points):
        conversation.send(1 + i, http_post({"road_image": "/9j/", "lat": lat, "lon": lon}))
    return conversation


def _snap(points: list[tuple[float, float]], metres: float) -> list[tuple[float, float]]:
    lat_step = metres / METRES_PER_DEGREE
    lon_step = 2 * metres / METRES_PER_DEGREE  # fine up to 60 degrees of latitude
    return [(round(round(lat / lat_step) * lat_step, 7), round(round(lon / lon_step) * lon_step, 7))
            for lat, lon in points]


def test_positions_on_the_declared_metric_grid_pass() -> None:
    findings = check_precision(evidence([_telemetry(_snap(ROUTE, 10))]), policy())
    assert overall(findings) is Verdict.PASS
    assert "no finer than the declared 10 m" in findings[-1].detail


def test_snapped_positions_in_cities_far_apart_pass() -> None:
    beijing = [(39.9042 + lat - 31.2304, 116.4074 + lon - 121.4737) for lat, lon in ROUTE]
    assert overall(check_precision(evidence([_telemetry(_snap(ROUTE + beijing, 10))]), policy())) is Verdict.PASS


def test_decimal_rounding_coarse_enough_passes() -> None:
    # three decimals: 111 m of latitude, 95 m of longitude at 31 degrees: fine for 10 m, too fine for 100 m
    rounded = [(round(31.2 + 0.0013 * i, 3), round(121.4 + 0.0017 * i, 3)) for i in range(8)]
    assert overall(check_precision(evidence([_telemetry(rounded)]), policy())) is Verdict.PASS
    assert overall(check_precision(evidence([_maps(rounded)]), policy())) is Verdict.FAIL


def test_positions_finer_than_declared_fail() -> None:
    findings = check_precision(evidence([_maps(_snap(ROUTE, 10))]), policy())
    failing = [f for f in findings if f.verdict is Verdict.FAIL]
    assert failing and "finer than the declared 100 m" in failing[0].detail
    assert failing[0].dst == "203.0.113.50:8080"


def test_raw_gnss_positions_fail() -> None:
    jitter = [0.0, 1.37, 2.11, 2.96, 4.42, 5.03]  # GNSS fixes are never spaced exactly evenly
    raw = [(round(31.2304123 + 0.0003171 * t, 7), round(121.4737457 + 0.0004213 * t, 7)) for t in jitter]
    assert overall(check_precision(evidence([_telemetry(raw)]), policy())) is Verdict.FAIL


def test_too_few_distinct_positions_are_inconclusive() -> None:
    parked = [(31.2304567, 121.4737891)] * 6
    findings = check_precision(evidence([_telemetry(parked)]), policy())
    assert overall(findings) is Verdict.INCONCLUSIVE and "distinct" in findings[-1].detail


def test_a_location_the_decoders_could_not_read_is_inconclusive() -> None:
    nested = Conversation("203.0.113.10", 1883).send(0.5, mqtt_connect()).send(
        1, mqtt_publish({"position": {"x": 1, "y": 2}}))
    assert overall(check_precision(evidence([nested]), policy())) is Verdict.INCONCLUSIVE


def test_destinations_without_a_declared_precision_are_not_judged() -> None:
    raw = [(31.2304123 + 0.0003171 * i, 121.4737457 + 0.0004213 * i) for i in range(6)]
    platform = Conversation("203.0.113.20", 8080)
    for i, (lat, lon) in enumerate(raw):
        platform.send(1 + i, http_post({"lat": lat, "lon": lon}))
    assert overall(check_precision(evidence([platform]), policy())) is Verdict.INCONCLUSIVE


@settings(max_examples=60, deadline=None)
@given(metres=st.floats(5, 2000), origin=st.tuples(st.floats(18, 54), st.floats(73, 135)),
       moves=st.lists(st.tuples(st.integers(-40, 40), st.integers(-40, 40)), min_size=6, max_size=30))
def test_a_snapped_route_always_passes(metres: float, origin: tuple[float, float],
                                      moves: list[tuple[int, int]]) -> None:
    points, (lat, lon) = [], origin
    for dlat, dlon in moves:
        lat, lon = lat + dlat * 3e-4, lon + dlon * 3e-4
        points.append((lat, lon))
    snapped = _snap(points, metres)
    lats, lons = [p[0] for p in snapped], [p[1] for p in snapped]
    floor = 0.99 * metres / METRES_PER_DEGREE
    if len(set(lats)) > 1:
        assert grid_step(lats, floor).step is not None
    if len(set(lons)) > 1:
        lon_floor = 0.99 * metres / (METRES_PER_DEGREE * math.cos(math.radians(max(lats))))
        assert grid_step(lons, lon_floor).step is not None


def test_jittered_gnss_tracks_are_never_taken_for_a_grid() -> None:
    # 1000 fixed pseudo-random tracks at the GNSS resolution (1e-7 degree): none passes for a grid of 5 m
    rng = random.Random(32960)
    for _ in range(1000):
        value, values = rng.uniform(18, 54), []
        for _ in range(rng.randint(6, 20)):
            value += rng.randint(1, 100_000) * 1e-7  # up to 1.1 km between fixes
            values.append(round(value, 7))
        fit = grid_step(values, 0.99 * 5 / METRES_PER_DEGREE)
        # either disproved, or resting on too few neighbours for the check to judge (inconclusive)
        assert fit.step is None or fit.differences < 5, values
