"""A GB/T 32960 real-time report with every unit a battery-electric vehicle sends, for the tests that
need one whole report; keyword arguments add units or replace them (None leaves one out)."""

from __future__ import annotations

from datetime import datetime

from harness.net import gbt32960


def full_report(vin: str, when: datetime, **extra: object) -> bytes:
    units: dict[str, object] = dict(
        vehicle=gbt32960.VehicleData(speed_kmh=50.0, soc_pct=80), motors=[gbt32960.MotorData()],
        location=gbt32960.Location(31.2304, 121.4737), extremes=gbt32960.Extremes(), alarms=gbt32960.Alarms())
    units.update(extra)
    return gbt32960.build_realtime(vin, when, **units)  # type: ignore[arg-type]
