"""The generated scenarios the locality and minimization suites play: drive cycles stay within
their bounds, switch schedules always hold a withdrawal, a seed replays the same examples, and
playback applies every step on time."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings

from harness.policy.netmap import ConsentSwitch
from harness.scenarios.clock import VehicleClock
from harness.scenarios.drive import DriveCycle, Leg, Stop, Toggle, play
from harness.scenarios.explore import Explorer, parse_seed
from harness.scenarios.log import ScenarioLog
from harness.scenarios.strategies import (
    MIN_SWITCH_GAP_S,
    drive_cycles,
    drives_opted_in,
    drives_with_switches,
)
from harness.scenarios.vehicle import Waypoint

SWITCHES = [ConsentSwitch("consent.location", frozenset({"location"})),
            ConsentSwitch("consent.voice", frozenset({"audio"}))]


@settings(max_examples=50, deadline=None)
@given(drive_cycles(min_s=60, max_s=120, diagonal=True))
def test_drive_cycles_stay_within_their_bounds(cycle: DriveCycle) -> None:
    assert 60 <= cycle.duration_s <= 120 + 1e-9
    legs = [s for s in cycle.steps if isinstance(s, Leg)]
    assert legs and all(20 <= s.speed_kph <= 120 for s in legs)
    assert all(20 <= s.bearing_deg % 90 <= 70 for s in legs)  # both coordinates change on every leg


@settings(max_examples=50, deadline=None)
@given(drives_with_switches(SWITCHES))
def test_every_switch_is_withdrawn_at_least_once(cycle: DriveCycle) -> None:
    for switch in SWITCHES:
        toggles = [t for t in cycle.toggles if t.signal == switch.signal]
        assert [t.on for t in toggles][:2] == [True, False]
        times = [t.at_s for t in toggles]
        assert all(b - a >= MIN_SWITCH_GAP_S - 1e-6 for a, b in zip(times, times[1:], strict=False))
        assert times[-1] <= cycle.duration_s + 1e-6


@settings(max_examples=20, deadline=None)
@given(drives_opted_in(SWITCHES))
def test_an_opted_in_owner_has_every_switch_on(cycle: DriveCycle) -> None:
    assert set(cycle.switches_on) == {s.signal for s in SWITCHES} and not cycle.toggles


def _explore(seed: int) -> list[Any]:
    log = ScenarioLog(VehicleClock(100))
    played: list[DriveCycle] = []
    Explorer(seed, log).run(drive_cycles(), played.append, examples=3, describe=DriveCycle.describe)
    assert [e["event"] for e in log.entries()] == ["example"] * 3
    assert all(e["seed"] == seed for e in log.entries())
    return played


def test_a_seed_replays_the_same_examples() -> None:
    assert _explore(20260) == _explore(20260)
    assert _explore(20260) != _explore(20261)


def test_seeds_from_the_command_line() -> None:
    assert parse_seed("1234") == 1234
    assert 0 <= parse_seed(None) < 2**32


class _Clock:
    """Vehicle time that passes only when slept, so playback is timed exactly."""

    def __init__(self) -> None:
        self.time = 1_800_000_000.0

    def now(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.time += max(0.0, seconds)


class _Car:
    """Records the vehicle verbs play() uses, with the vehicle time of each."""

    def __init__(self, clock: _Clock) -> None:
        self.clock, self.began = clock, clock.now()
        self.calls: list[tuple[Any, ...]] = []

    def _note(self, *call: Any) -> None:
        self.calls.append((self.clock.now() - self.began, *call))

    def reset(self, position: Waypoint) -> None:
        self._note("reset", position)

    def set(self, event: str, **values: Any) -> None:
        self._note(event, values)

    def drive_route(self, route: list[Waypoint], speed_kph: float) -> None:
        self._note("drive", speed_kph)

    def park(self) -> None:
        self._note("park")


def test_playback_applies_steps_and_toggles_on_time() -> None:
    clock = _Clock()
    car = _Car(clock)
    cycle = DriveCycle("Shanghai", Waypoint(31.23, 121.47), (Leg(45, 20, 50), Stop(10), Leg(90, 20, 30)),
                       (Toggle(25, "consent.voice", True),), ("consent.location",))
    play(cycle, car, clock, tail_s=5)  # type: ignore[arg-type]
    assert [c[:2] for c in car.calls] == [(0, "reset"), (0, "consent"), (0, "drive"), (20, "park"),
                                          (25, "consent"), (30, "drive"), (50, "park")]
    assert car.calls[1][2] == {"consent.location": "On"} and car.calls[4][2] == {"consent.voice": "On"}
    assert clock.now() - car.began == 55
