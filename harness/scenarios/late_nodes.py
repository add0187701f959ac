"""Nodes of the rest of the vehicle that boot later than the ECU under test: the messages carrying
some signals (the owner's privacy switches, sent by the HMI) kept off the bus from before the
capture and the ECU start until the scenario lets them appear.

Real vehicles do this: the node that sends the owner's settings may come up seconds after the
telematics unit, which must then act without them."""

from __future__ import annotations

import time
from collections.abc import Iterable

from harness.can.cyclic import CyclicTransmitter
from harness.can.monitor import SignalMonitor
from harness.errors import RigError
from harness.scenarios.log import ScenarioLog

FLUSH_S = 3.0  # wall seconds for a frame sent after the hold to come back off the bus (a loaded machine)


class Withheld:
    """The messages carrying `signals`, held off the bus by the harness's transmitter."""

    def __init__(self, tx: CyclicTransmitter, monitor: SignalMonitor, log: ScenarioLog,
                 signals: Iterable[str]) -> None:
        self.tx, self.monitor, self.log = tx, monitor, log
        self.signals = tuple(signals)
        self.messages = tuple(sorted({tx.codec.ref(s).message for s in self.signals}))
        self._held_at: float | None = None

    def not_sent(self) -> list[str]:
        """Messages the harness does not send (another node on a bench does): it cannot hold them back."""
        return [m for m in self.messages if m not in self.tx.messages]

    def hold(self) -> None:
        """Stop sending the messages; returns once a frame sent after the hold is back from the bus,
        so no frame of them is still on its way to a recording started now."""
        if not self.messages:
            return
        self.tx.hold(*self.messages)
        self._held_at = time.time()
        clock = self.tx.codec.ref("time.vehicle_ms").message
        self.tx.send_now(clock)
        if not self.monitor.wait_message(clock, FLUSH_S, after=self._held_at):
            self.tx.release(*self.messages)
            raise RigError(f"the harness's own {clock} frame did not come back off the bus within {FLUSH_S} s")

    @property
    def holding(self) -> bool:
        return self._held_at is not None

    def release(self) -> None:
        """Put the messages on the bus at once, with the values the scenario has set meanwhile."""
        if self._held_at is None:
            return
        self.log.record("withheld_released", messages=list(self.messages), signals=list(self.signals),
                        held_s=round(time.time() - self._held_at, 3))
        self._held_at = None
        self.tx.release(*self.messages)
