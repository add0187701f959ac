"""What a withdrawal of consent showed: whether the switch's categories flowed while it was on, and
for how long after the switch went off the vehicle was seen able to send.

A withdrawal proves the rule only if there was something to stop and time for it to stop: silence
after a switch that never let anything through, or a recording that ends at the withdrawal, shows
nothing. How long is long enough comes from the vehicle itself: the latency plus the longest the
vehicle went without sending the categories while it was allowed to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.checks.ota_situations import Situation, unseen
from harness.checks.timeline import Period, VehicleTime
from harness.findings import Finding
from harness.policy.netmap import ConsentSwitch

ON = "On"


@dataclass(frozen=True)
class Withdrawal:
    """One change of `signal` from On to `state`: did the categories flow in the On period before
    it, and how many vehicle seconds after it the vehicle was seen sending with the switch still off."""

    signal: str
    state: str
    flowed: bool
    watched_s: float
    needed_s: float

    @property
    def exercised(self) -> bool:
        return self.flowed and self.watched_s >= self.needed_s


def longest_silence(periods: Sequence[Period], sends: Sequence[float], clock: VehicleTime,
                    from_first_frame: bool = False) -> float | None:
    """The longest the vehicle went without sending while the switch was on (vehicle seconds): from
    the switch going on to the first send, and between sends; None if nothing was sent while on.
    `from_first_frame`: a switch whose first frame on the bus reads On went on there too (it had not
    reached the ECU before), not only one seen changing to On."""
    gaps: list[float] = []
    sent_while_on = False
    for period in periods:
        times = [t for t in sends if period.holds(t)] if period.state == ON else []
        if not times:
            continue
        sent_while_on = True
        if period.since_change or from_first_frame:
            gaps.append(clock.seconds(period.start, times[0]))
        gaps += [clock.seconds(a, b) for a, b in zip(times, times[1:], strict=False)]
    return max(gaps, default=0.0) if sent_while_on else None


def withdrawal(signal: str, before: Period, period: Period, sends: Sequence[float], activity: Sequence[float],
               clock: VehicleTime, needed_s: float) -> Withdrawal:
    """`sends`: capture times the switch's categories left the vehicle; `activity`: capture times the
    vehicle sent anything at all (it was running and connected then)."""
    flowed = any(before.holds(t) for t in sends)
    if any(t >= period.end for t in activity):
        alive_until = period.end  # seen sending after the switch went on again or the recording ended
    else:
        alive_until = max((t for t in activity if t >= period.start), default=period.start)
    return Withdrawal(signal, period.state, flowed, clock.seconds(period.start, alive_until), needed_s)


def promised_withdrawals(switches: Iterable[ConsentSwitch]) -> list[Situation]:
    """Without promises from the test, every switch withdrawn: the netmap says which exist."""
    return [Situation(f"{s.signal} switched off", {s.signal: "Off"}) for s in switches]


def unexercised(check: str, clause: str, promised: Sequence[Situation], shown: Sequence[Withdrawal],
                switches: Mapping[str, ConsentSwitch], latency_s: float) -> list[Finding]:
    """An inconclusive finding for every promised withdrawal no recorded withdrawal exercised, saying
    how far the closest one came."""
    findings: list[Finding] = []
    for situation in promised:
        mine = [w for w in shown if situation.holds({w.signal: w.state})]
        if any(w.exercised for w in mine):
            continue
        findings += unseen(check, clause, [situation], set(), _shortfall(situation, mine, switches, latency_s))
    return findings


def _shortfall(situation: Situation, mine: Sequence[Withdrawal], switches: Mapping[str, ConsentSwitch],
               latency_s: float) -> str:
    signals = ", ".join(situation.state)
    strangers = [s for s in situation.state if s not in switches]
    if strangers:
        return f"{', '.join(strangers)} is not an owner's switch the netmap declares ([[consent]])"
    categories = ", ".join(sorted({c for s in situation.state for c in switches[s].categories}))
    if not mine:
        return f"the recording shows no change of {signals} from On to {_states(situation)}"
    flowed = [w for w in mine if w.flowed]
    if not flowed:
        return (f"no {categories} left the vehicle while {signals} was on before any of its {len(mine)} "
                f"withdrawals, so stopping it shows nothing")
    best = max(flowed, key=lambda w: w.watched_s - w.needed_s)
    return (f"after none of its {len(flowed)} withdrawals following {categories} sent was the vehicle seen "
            f"sending, the switch still off, for the {latency_s:g} s allowed plus the "
            f"{best.needed_s - latency_s:.1f} s it went without sending {categories} while allowed "
            f"({best.needed_s:.1f} s of vehicle time; the closest: {best.watched_s:.1f} s)")


def _states(situation: Situation) -> str:
    return "/".join(sorted({str(v) for v in situation.state.values()}))
