"""Vehicle states across every boundary of the installation preconditions (speed around standstill,
each gear, the parking brake, charge around the campaign's minimum charging or not, supply around
the undervoltage threshold), and a player that puts each in front of an update waiting to install.

The boundaries come from the profile's limits and the campaign: what is drawn follows the policy
the check judges by. States break zero, one or two conditions, so each condition is seen alone."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from harness.can.codec import Value
from harness.can.monitor import SignalMonitor
from harness.scenarios.campaign import example_campaign, next_version
from harness.scenarios.fastforward import FastForward
from harness.scenarios.hmi import OwnerScreen
from harness.scenarios.ota_backend import OtaBackend
from harness.scenarios.vehicle import Vehicle
from harness.scenarios.vehicle_states import change, put

CONDITIONS = ("speed", "gear", "parking brake", "charge", "supply")
ENDED = frozenset({"Completed", "Failed", "RolledBack"})
HOLD_S = 0.4          # wall seconds a state is held: the ECU decides, and its status shows it settled
INSTALL_MIN = 1       # each installation a safe state starts runs to its end quickly


@dataclass(frozen=True)
class Preconditions:
    """The safe-state rule's limits, as the profile and the campaign state them."""

    standstill_kph: float
    min_supply_v: float
    charging_soc_share: float
    min_soc_pct: float

    @classmethod
    def of(cls, limits: Mapping[str, float], min_soc_pct: float) -> Preconditions:
        return cls(limits["standstill_kph"], limits["min_supply_v"], limits["charging_soc_share"], min_soc_pct)

    def state(self, broken: frozenset[str] = frozenset(), *, speed: float | None = None, gear: str = "N",
              charging: bool = False, soc: float | None = None, volts: float | None = None) -> dict[str, Value]:
        """A state that breaks exactly `broken`, each other condition met at its boundary's safe side."""
        floor = self.min_soc_pct * self.charging_soc_share if charging else self.min_soc_pct
        return {
            "vehicle.speed_kph": round(speed if speed is not None else
                                       (self.standstill_kph + 2.5 if "speed" in broken else 0.0), 2),
            "vehicle.gear": gear if "gear" in broken else "P",
            "vehicle.parking_brake": "Released" if "parking brake" in broken else "Applied",
            "battery.soc_pct": round(soc if soc is not None else (floor - 0.1 if "charge" in broken else floor), 1),
            "battery.charging_state": "ChargingAC" if charging else "NotCharging",
            "battery.cable_connected": 1 if charging else 0,
            "battery.lv_voltage": round(volts if volts is not None else
                                        (self.min_supply_v - 0.1 if "supply" in broken else self.min_supply_v), 1),
        }

    def boundaries(self) -> dict[str, dict[str, Value]]:
        """One state per condition broken alone, at or near its boundary, and a safe one at the limits."""
        share = self.min_soc_pct * self.charging_soc_share
        return {
            "rolling at 3 km/h": self.state(frozenset({"speed"}), speed=3.0),
            "at the standstill limit": self.state(frozenset({"speed"}), speed=self.standstill_kph),
            "stationary in N": self.state(frozenset({"gear"}), gear="N"),
            "stationary in R": self.state(frozenset({"gear"}), gear="R"),
            "parking brake released": self.state(frozenset({"parking brake"})),
            "charge below the minimum, not charging": self.state(
                frozenset({"charge"}), soc=(share + self.min_soc_pct) / 2),
            "charge below the share, charging": self.state(frozenset({"charge"}), charging=True, soc=share / 2),
            "supply just below the threshold": self.state(frozenset({"supply"})),
            "charging at the share, supply at the threshold": self.state(charging=True),
        }

    def states(self) -> st.SearchStrategy[dict[str, Value]]:
        """Any state a step or two from safe, with values on and around every boundary."""
        share = self.min_soc_pct * self.charging_soc_share
        still = self.standstill_kph
        rolling = st.sampled_from((still, still + 0.01, 1.0, 3.0, 5.0, 7.99, 8.0, 10.0)) | st.integers(
            int(still * 100), 1000).map(lambda x: x / 100)

        @st.composite
        def drawn(draw: st.DrawFn) -> dict[str, Value]:
            # mostly one or two conditions broken: a safe state costs a whole installation
            broken = frozenset() if draw(st.integers(0, 5)) == 0 else draw(
                st.frozensets(st.sampled_from(CONDITIONS), min_size=1, max_size=2))
            charging = draw(st.booleans())
            floor = share if charging else self.min_soc_pct
            low = (floor - 0.1, floor / 2, 0.0) if charging else (floor - 0.1, (share + floor) / 2, share - 0.1, 0.0)
            return self.state(
                broken, gear=draw(st.sampled_from(("R", "N", "D"))), charging=charging,
                speed=draw(rolling) if "speed" in broken else draw(st.sampled_from((0.0, still - 0.01, still / 2))),
                soc=draw(st.sampled_from(low)) if "charge" in broken else draw(st.sampled_from(
                    (floor, floor + 0.1, floor + 20.0))),
                volts=draw(st.sampled_from((self.min_supply_v - 0.1, self.min_supply_v - 1.0, 7.5, 0.0)))
                if "supply" in broken else draw(st.sampled_from((self.min_supply_v, self.min_supply_v + 0.1, 12.6))))

        return drawn()


@dataclass
class PreconditionPlayer:
    """Puts states in front of an update that waits to install; a state the ECU installs in runs
    that installation to its end, and the next state gets a fresh campaign."""

    vehicle: Vehicle
    hmi: OwnerScreen
    backend: OtaBackend
    forward: FastForward
    monitor: SignalMonitor
    next_campaign: int
    played: int = 0
    installed: int = 0

    def play(self, state: Mapping[str, Value], label: str = "precondition example") -> str:
        """What the ECU showed after the state held: its OTA state."""
        if self._status() != "WaitingSafeState" and not self._waiting_update():
            return "installed"  # from the road, without waiting: the capture shows it to the check
        self.played += 1
        change(self.vehicle, label, state, self.monitor)
        if self.monitor.wait_for(lambda v: v.get("ota.status.state") in ("Installing", "Activating"), HOLD_S):
            self.installed += 1
            self.forward.state_in(set(ENDED), 3600)
            return "installed"
        return self._status()

    def _waiting_update(self) -> bool:
        """From the road the owner accepts a fresh campaign; its package arrives while driving.
        True once the update waits for a safe state; False if it installed while driving instead
        (a violation the capture holds: it is run to its end and the check judges it)."""
        put(self.vehicle, "driving", self.monitor)
        before = self._version()
        campaign_id, self.next_campaign = self.next_campaign, self.next_campaign + 1
        campaign = self.backend.offer(example_campaign(campaign_id, INSTALL_MIN, next_version(before)))
        if self.hmi.wait_for_notice(campaign.campaign_id, timeout_vehicle_s=3600) is None:
            raise RuntimeError(f"campaign {campaign_id}: the ECU showed no notice")
        self.hmi.accept(campaign.campaign_id)

        def decided(v: Mapping[str, Any]) -> bool:
            state = v.get("ota.status.state")
            return state in ("WaitingSafeState", "Installing", "Activating") or (
                state in ENDED and self._version(v) != before)

        if not self.forward.until(decided, 1800):
            raise RuntimeError(f"campaign {campaign_id}: the update neither waited for a safe state nor "
                               f"installed (the ECU shows {self._status()})")
        if self._status() == "WaitingSafeState":
            return True
        self.installed += 1
        self.forward.state_in(set(ENDED), 3600)
        return False

    def _status(self) -> str:
        return str(self.monitor.value("ota.status.state", "Idle"))

    def _version(self, values: Mapping[str, Any] | None = None) -> tuple[int, int, int]:
        v: Mapping[str, Any] = self.monitor.snapshot() if values is None else values
        return (int(v.get("ota.status.version_major", 1)), int(v.get("ota.status.version_minor", 0)),
                int(v.get("ota.status.version_patch", 0)))


def session_states(standstill_kph: float) -> st.SearchStrategy[dict[str, Value]]:
    """Motion states around the diagnostic-session rule: speed from 0 to 10 km/h around the
    standstill limit, every gear, the parking brake applied or released."""
    around = [0.0, round(standstill_kph - 0.01, 2), standstill_kph, round(standstill_kph + 0.01, 2), 3.0, 7.99, 8.0]
    return st.fixed_dictionaries({
        "vehicle.speed_kph": st.sampled_from(around) | st.integers(0, 1000).map(lambda x: x / 100),
        "vehicle.gear": st.sampled_from(("P", "R", "N", "D")),
        "vehicle.parking_brake": st.sampled_from(("Applied", "Released")),
    })
