"""The consent-latency scenario and its seeded defect without a rig: the moments it plays, the order
of its steps in vehicle time, and the owner's switches as the vECU reads them, compliant or late."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import given

from harness.scenarios.withdrawals import (
    AFTER_S,
    DUE_S,
    LEAD_S,
    WithdrawalPlayer,
    boundary_moments,
    moments,
)
from harness.vecu.privacy import LATE_S, OwnerSwitches


class _Clock:
    scale = 100.0

    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(0.0, seconds)

    @contextmanager
    def slowed(self, scale: float) -> Iterator[None]:
        yield


class _Forward:
    def __init__(self, clock: _Clock) -> None:
        self.clock, self.jumps = clock, []

    def run(self, seconds: float) -> None:
        self.jumps.append((self.clock.t, seconds))
        self.clock.t += seconds


class _Log:
    def record(self, event: str, **values: Any) -> None:
        pass


class _Car:
    def __init__(self, clock: _Clock) -> None:
        self.clock, self.log, self.changes = clock, _Log(), []

    def set_now(self, event: str, **values: Any) -> None:
        self.changes.append((self.clock.t, values))


def test_boundary_moments_cover_every_band_a_second_wide() -> None:
    points = boundary_moments(6.0)
    assert points[0] == 0.0 and points[-1] < 6.0 and len(points) == 24
    for band in range(1, 500):  # any open band (a, a + 1) inside the span holds at least three moments
        a = band / 100
        assert len([p for p in points if a < p < a + 1]) >= 3 or a + 1 > 6.0


@given(moments(10.0))
def test_generated_moments_stay_in_the_span(moment: float) -> None:
    assert 0.0 <= moment < 10.0 and round(moment, 1) == moment


def test_a_withdrawal_comes_its_moment_after_the_jump_that_made_every_upload_due() -> None:
    for moment in (0.3, 2.5, 7.0):
        clock = _Clock()
        car, forward = _Car(clock), _Forward(clock)
        player = WithdrawalPlayer(car, clock, forward, "consent.location", 3.0)  # type: ignore[arg-type]
        player.play(moment)
        (on_at, on), (off_at, off) = car.changes
        assert on == {"consent.location": "On"} and off == {"consent.location": "Off"}
        due = next(at + s for at, s in forward.jumps if s == DUE_S)
        assert abs(off_at - due - moment) < 1e-9 and due - on_at >= LEAD_S
        after_at, after = forward.jumps[-1]
        assert after == AFTER_S and abs(after_at - off_at - 3.0) < 1e-9
        assert player.played == 1


def _switches(defects: tuple[str, ...]) -> tuple[OwnerSwitches, dict[str, str], list[float]]:
    state, now = {"consent.location": "On"}, [1000.0]
    return OwnerSwitches(state.get, lambda: now[0], defects), state, now


def test_the_compliant_vehicle_honours_a_withdrawal_at_once() -> None:
    switches, state, now = _switches(())
    switches.follow()
    state["consent.location"] = "Off"
    now[0] += 0.1
    switches.follow()
    assert not switches.on("consent.location")


def test_the_late_defect_keeps_location_flowing_for_its_seconds_after_the_last_tick_it_saw_on() -> None:
    switches, state, now = _switches(("consent-latency-slightly-late",))
    switches.follow()
    state["consent.location"] = "Off"
    for elapsed, expected in ((0.5, True), (LATE_S - 0.1, True), (LATE_S + 0.1, False)):
        now[0] = 1000.0 + elapsed
        switches.follow()
        assert switches.on("consent.location") is expected, elapsed
    assert not switches.on("consent.voice")  # only location sharing is late
