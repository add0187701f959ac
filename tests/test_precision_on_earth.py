"""The location-precision check reads only degrees a position can take: numbers beyond +-90/+-180
sit on a grid of their own (a grid index divided by the step instead of multiplied) that any declared
precision would seem to allow, so they are positions it could not read, not a pass."""

from __future__ import annotations

from harness.checks.precision import METRES_PER_DEGREE, check_precision
from harness.findings import Verdict, overall
from tests.synthetic_evidence import Conversation, evidence, mqtt_connect, mqtt_publish, policy

ROUTE = [(31.2304 + 0.0037 * i, 121.4737 + 0.0051 * i) for i in range(12)]  # ~600 m steps
METRES = 100.0  # no finer than the 10 m the synthetic netmap declares for telemetry


def _telemetry(points: list[tuple[float, float]]) -> Conversation:
    conversation = Conversation("203.0.113.10", 1883).send(0.5, mqtt_connect())
    for i, (lat, lon) in enumerate(points):
        conversation.send(1 + i, mqtt_publish({"vin": "V", "lat": lat, "lon": lon}))
    return conversation


def _grid(divide_longitude: bool) -> list[tuple[float, float]]:
    lat_step, lon_step = METRES / METRES_PER_DEGREE, 2 * METRES / METRES_PER_DEGREE
    return [(round(round(lat / lat_step) * lat_step, 7),
             round(round(lon / lon_step) / lon_step if divide_longitude else round(lon / lon_step) * lon_step, 7))
            for lat, lon in ROUTE]


def test_snapped_positions_pass() -> None:
    assert overall(check_precision(evidence([_telemetry(_grid(False))]), policy())) is Verdict.PASS


def test_a_longitude_beyond_180_degrees_is_inconclusive() -> None:
    findings = check_precision(evidence([_telemetry(_grid(True))]), policy())
    assert overall(findings) is Verdict.INCONCLUSIVE
    assert any("+-90/+-180" in f.detail for f in findings)
