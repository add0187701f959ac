"""Withdrawals of consent at chosen moments after the vehicle's periodic upload, for the latency
boundary: the owner switches a category on, the vehicle uploads it, and the switch goes off a
generated number of vehicle seconds later, so that the vehicle's next upload falls on either side
of the latency the rule allows.

On a virtual rig a jump of vehicle time makes every periodic upload of the vehicle due at once, so
the moment is known relative to an upload without knowing the period; on a bench the time passes."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from harness.scenarios.clock import VehicleClock
from harness.scenarios.fastforward import FastForward
from harness.scenarios.vehicle import Vehicle

SLOW_SCALE = 10.0  # vehicle time runs at most this fast around a withdrawal (see drive.settle)
DUE_S = 30.0       # a jump this long makes every upload with a period up to it due at once
AFTER_S = 60.0     # jumped after a withdrawal: the vehicle sends again, the switch still off, and the
                   # switch stays off longer than the vehicle went without sending while it was on
LEAD_S = 0.5       # the last vehicle seconds before a change always pass slowly: the ECU reads the bus
STEP_S = 0.25      # the boundary moments lie this far apart: several fall in a second-wide band


def boundary_moments(span_s: float) -> list[float]:
    """Every STEP_S vehicle seconds from 0 up to `span_s`: for any upload period up to `span_s`, some
    moments put the next upload just before and just after the latency, whatever the latency."""
    return [round(i * STEP_S, 2) for i in range(int(span_s / STEP_S))]


def moments(span_s: float) -> st.SearchStrategy[float]:
    """Moments after an upload, in tenths of a vehicle second, up to `span_s`."""
    return st.integers(0, int(span_s * 10) - 1).map(lambda tenths: tenths / 10)


@dataclass
class WithdrawalPlayer:
    """Plays one withdrawal of `signal` per moment: on, the uploads made due, `moment` seconds later
    off, then `watch_s` seconds at a pace the ECU can follow before time moves on."""

    vehicle: Vehicle
    clock: VehicleClock
    forward: FastForward
    signal: str
    watch_s: float
    played: int = 0

    def play(self, moment: float) -> None:
        with self.clock.slowed(min(self.clock.scale, SLOW_SCALE)):
            self.vehicle.set_now("consent", **{self.signal: "On"})
            self.clock.sleep(LEAD_S)
            self.forward.run(DUE_S)  # the vehicle uploads now, the category included
            # after every jump some time passes at the pace of the clock frames, so that what the
            # vehicle sent on the jump is timed between frames of the new time, not of the jump
            if moment <= 2 * LEAD_S:
                self.clock.sleep(moment)
            else:  # where it passes the upload period, the vehicle uploads again on the way
                self.clock.sleep(LEAD_S)
                self.forward.run(moment - 2 * LEAD_S)
                self.clock.sleep(LEAD_S)
            self.vehicle.log.record("withdrawal", after_upload_s=moment, index=self.played)
            self.vehicle.set_now("consent", **{self.signal: "Off"})
            self.clock.sleep(self.watch_s)
            self.forward.run(AFTER_S)
            self.clock.sleep(LEAD_S)
        self.played += 1
