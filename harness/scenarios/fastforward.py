"""Fast-forward of vehicle time on a virtual rig: jump the clock in steps and put each step on the
bus at once, so a 20-minute installation plays out in well under a second of wall time.

The ECU still lives through every step (progress, drive inhibit, activation) at CAN speed, so the
evidence shows the whole installation; on a bench, where time cannot jump, it simply waits."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from harness.can.codec import Value
from harness.can.monitor import SignalMonitor
from harness.scenarios.clock import VehicleClock

MAX_STEPS = 25
HOLD_S = 5.0   # wall seconds one advance may wait for the network before vehicle time jumps again
CATCH_UP_S = 1.0  # wall seconds the ECU may lag behind the last jump before a wait counts as timed out
ANSWER_S = 2.0  # wall seconds an ECU that answers jumps may take to answer one (a loaded machine)
DIAL_S = 0.02   # wall seconds an ECU between download attempts is given to start one before time jumps
IDLE_STEP_S = 5.0  # vehicle seconds a jump moves on an ECU that waits to try its download again
LOOK_S = 0.005  # wall seconds between looks at the backend's requests while waiting on the network
IDLE_STEP_MAX_S = 60.0  # the jumps double with every attempt that ends (a link that stays down), up to this


def downloading(values: Mapping[str, Value]) -> bool:
    """The ECU is busy on the network, which runs in wall time."""
    return values.get("ota.status.state") == "Downloading"


class FastForward:
    def __init__(self, clock: VehicleClock, monitor: SignalMonitor, step_s: float = 30.0, period_s: float = 0.003,
                 jumps: bool = True, hold: Callable[[Mapping[str, Value]], bool] = downloading,
                 transfers: Callable[[], tuple[int, int]] | None = None) -> None:
        self.clock, self.monitor, self.hold = clock, monitor, hold
        # where the rig serves the downloads itself, its package requests (in flight, ended so far): an
        # ECU busy on the network with an attempt ended and none in flight waits (in vehicle time) to retry
        self.transfers = transfers
        # the message carrying the vehicle clock, whatever the vehicle's DBC calls it
        self.clock_message = monitor.codec.ref("time.vehicle_ms").message
        # the reference vECU answers every clock frame with its status once it has acted on it; an
        # ECU that does not is given `period_s` per jump instead
        self.status_message = monitor.codec.ref("ota.status.state").message
        self.answers = True
        self.step_s, self.period_s, self.jumps = step_s, period_s, jumps
        self.vehicle_seconds = 0.0   # totals, for the acceleration a benchmark reports
        self.wall_seconds = 0.0

    def run(self, vehicle_seconds: float) -> None:
        """Let `vehicle_seconds` of vehicle time pass, quickly."""
        self.until(lambda _: False, vehicle_seconds, catch_up=False)

    def until(self, predicate: Callable[[Mapping[str, Value]], bool], vehicle_timeout: float,
              step_s: float | None = None, hold: bool = True, catch_up: bool = True) -> bool:
        """Advance until `predicate(bus values)` holds (True) or `vehicle_timeout` has passed (False);
        `step_s` fixes the jump (finer steps show more of what happens on the way). While the ECU is
        busy on the network (`hold`), time runs at the wall clock's pace for up to HOLD_S first (see
        `through_network`: where the rig tells, only while a transfer is in flight). Each
        jump waits for the ECU's answer (see `jump`); an ECU that does not answer can fall behind the
        jumps, and at the timeout it gets CATCH_UP_S to show the predicate (`catch_up`), one that
        answers one more tick."""
        start_vehicle, start_wall = self.clock.now(), time.monotonic()
        held = 0.0
        self.answers = True  # an ECU back from a power cut answers again
        try:
            while True:
                if predicate(self.monitor.snapshot()):
                    return True
                elapsed = self.clock.now() - start_vehicle
                if elapsed >= vehicle_timeout:
                    if not (catch_up and self.jumps):
                        return False
                    if self.answers:  # one more tick of an ECU that answers covers an answer taken early
                        self.jump(0.0)
                        return predicate(self.monitor.snapshot())
                    return self.monitor.wait_for(predicate, CATCH_UP_S)
                if not self.jumps:
                    if self.monitor.wait_for(predicate, min(self.clock.wall(vehicle_timeout - elapsed), 0.5)):
                        return True
                    continue
                if hold and held < HOLD_S and self.hold(self.monitor.snapshot()):
                    held += self.through_network(predicate, HOLD_S - held, vehicle_timeout - elapsed)
                    continue
                # long spans in bigger steps: the wall time of a wait stays bounded
                step = step_s or max(self.step_s, vehicle_timeout / MAX_STEPS)
                self.jump(min(step, vehicle_timeout - elapsed))
                if predicate(self.monitor.snapshot()) or (
                        not self.answers and self.monitor.wait_for(predicate, self.period_s)):
                    return True
        finally:
            self.vehicle_seconds += self.clock.now() - start_vehicle
            self.wall_seconds += time.monotonic() - start_wall

    def through_network(self, predicate: Callable[[Mapping[str, Value]], bool], wall_s: float,
                        vehicle_s: float = float("inf")) -> float:
        """While the ECU is busy on the network (`hold`) and not `predicate`: wall time while a package
        request is in flight (the network is not virtual) or before one has ended (it may be dialling
        still), jumps once one has ended and none is in flight (it waits to try again): 5 s, doubling
        with every further attempt that ends (a link that stays down), for at most about `wall_s` wall
        and `vehicle_s` vehicle seconds. Returns the wall seconds spent."""
        started, vehicle_end = time.monotonic(), self.clock.now() + vehicle_s
        transfers = self.transfers

        def settled(v: Mapping[str, Value]) -> bool:
            return predicate(v) or not self.hold(v)

        def left() -> float:
            return wall_s - (time.monotonic() - started)

        if transfers is None or not self.jumps:
            self.monitor.wait_for(settled, wall_s)
            return time.monotonic() - started
        first_ended = seen_ended = transfers()[1]
        step = IDLE_STEP_S

        def look_until(condition: Callable[[Mapping[str, Value]], bool], timeout: float) -> bool:
            """The bus wakes the monitor, the backend does not: look at least every LOOK_S."""
            deadline = time.monotonic() + timeout
            while not self.monitor.wait_for(condition, max(0.0, min(LOOK_S, deadline - time.monotonic()))):
                if time.monotonic() >= deadline:
                    return False
            return True

        while left() > 0 and not settled(self.monitor.snapshot()):
            in_flight, ended = transfers()
            if in_flight or look_until(lambda v: settled(v) or transfers()[0] > 0, DIAL_S):
                look_until(lambda v: settled(v) or transfers()[0] == 0, left())
            elif ended == first_ended:  # no attempt has ended yet: the first may still be dialling
                look_until(lambda v: settled(v) or transfers() != (0, first_ended), left())
            elif self.clock.now() >= vehicle_end:
                break
            else:
                if ended > seen_ended and seen_ended > first_ended:
                    step = min(2 * step, IDLE_STEP_MAX_S)
                seen_ended = ended
                self.jump(min(step, vehicle_end - self.clock.now()))
        return time.monotonic() - started

    def jump(self, vehicle_seconds: float) -> bool:
        """Jump the clock and wait until the ECU has acted on it (True), where it says so: the jump
        goes out in a clock frame, and the ECU's status after that frame is its answer. An ECU that
        does not answer is given `period_s` from then on."""
        before = time.time()
        self.clock.advance(vehicle_seconds)
        # the ECU sees the jump with the next clock frame (sent at once where the rig sends one on
        # every jump); a status after it on the bus is the answer to it (or, rarely, to the clock
        # frame before it, which leaves the ECU one jump behind, as the catch-up at the end allows)
        if not self.monitor.wait_message(self.clock_message, 0.1, after=before) or not self.answers:
            return False
        sent = self.monitor.last_seen(self.clock_message) or before
        self.answers = self.monitor.wait_message(self.status_message, ANSWER_S, after=sent)
        return self.answers

    def tick(self, vehicle_seconds: float = 0.1) -> None:
        """Let a moment of vehicle time pass in which the ECU acts once on what the bus shows now."""
        if not self.jumps or not self.jump(vehicle_seconds):
            self.monitor.wait_for(lambda _: False, max(self.period_s, self.clock.wall(vehicle_seconds)))

    @contextmanager
    def slow(self, scale: float) -> Iterator[None]:
        """Vehicle time at `scale` without jumps: a short phase stays on the bus long enough to judge."""
        jumps, self.jumps = self.jumps, False
        try:
            with self.clock.slowed(scale):
                yield
        finally:
            self.jumps = jumps

    def state_in(self, states: set[str], vehicle_timeout: float, step_s: float | None = None) -> str | None:
        """Advance until the ECU's OTA state is one of `states`; the state, or None on timeout."""
        if self.until(lambda v: v.get("ota.status.state") in states, vehicle_timeout, step_s):
            return str(self.monitor.value("ota.status.state"))
        return None

    @property
    def acceleration(self) -> float:
        """Vehicle seconds per wall second over every fast-forward so far."""
        return self.vehicle_seconds / self.wall_seconds if self.wall_seconds else 0.0
