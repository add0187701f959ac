"""A hypothesis RuleBasedStateMachine over OTA updates on a live rig: campaigns arrive (some with a
fault), the owner answers, the vehicle drives, parks, runs low or charges, the supply fails, time
passes; after every step the update invariants are judged on the CAN recorded so far.

Each example is one campaign on the same running ECU and ends with the same epilogue: the owner
accepts from the road, the vehicle parks, the update runs to its end. A violation stops the run;
the steps of every campaign are kept so the report can quote the failing sequence with its seed."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from harness.can.codec import VehicleCodec
from harness.can.monitor import SignalMonitor
from harness.can.recorder import CanRecorder
from harness.checks.ota import check_consent
from harness.checks.ota_safety import check_safe_state
from harness.checks.ota_sequences import invariant_findings
from harness.findings import Finding, Verdict
from harness.net.evidence import CanRecord, Evidence
from harness.net.flows import FlowTable
from harness.net.pcapfile import CaptureInfo
from harness.policy.policy import Policy
from harness.scenarios.campaign import example_campaign, next_version
from harness.scenarios.fastforward import FastForward
from harness.scenarios.hmi import OwnerScreen
from harness.scenarios.ota_backend import OtaBackend
from harness.scenarios.vehicle import Vehicle
from harness.scenarios.vehicle_states import put, supply_dip

# first options first: hypothesis's first example takes them, so it always covers a power loss
# during installation, a decision taken from the road, and an installation that needs parking
VEHICLE_STATES = ("parked", "driving", "parked-low-energy", "charging-low-energy", "parked-brake-released")
# (a power cycle restarts the ECU's alive counters, which the consent check reads as lost frames:
# the rollback suite covers power cycles; here the supply fails on CAN)
FAULTS = ("power-loss", "none", "corrupt", "bad-signature", "network-cut", "power-loss", "slow-link")
ANSWERS = ("Accept", "Postpone", "Decline")
ENDED = frozenset({"Completed", "Failed", "RolledBack", "Declined"})
AT_REST = ENDED | {"Idle"}
MIN_SOC_PCT = 30.0      # what example_campaign asks for
DOWNLOAD_WAIT_S = 10.0  # wall seconds a campaign's downloads may take before vehicle time jumps again
# vehicle seconds of jumps for a notice: the vECU polls every minute, and a poll in flight is waited for
# in wall time (the network is not virtual) rather than jumped over in steps the ECU must answer
NOTICE_WAIT_S = 180.0
RUN_STEPS = 6           # jumps a stretch of vehicle time is played in (the ECU acts on each)
SETTLE_S = 1.0          # wall seconds the ECU's frames after an update's end may take to be recorded (10 cycles)
FIRST_CAMPAIGN = 7001
SMALL_PACKAGE = bytes(range(256)) * 32   # 8 kB: two chunks of a slow link, a quarter second, not two


class LiveRecording:
    """The CAN recorded since a moment, decoded as load_evidence would, so the checks can judge it live."""

    def __init__(self, recorder: CanRecorder, codec: VehicleCodec) -> None:
        self.recorder, self.codec = recorder, codec
        self._records: list[CanRecord] = []
        # read on by position, not by time stamp: a frame may arrive after one stamped later, and
        # would be skipped for good by a reader that went by time stamps
        self._position = recorder.count()

    def restart(self) -> None:
        self._records, self._position = [], self.recorder.count()

    def evidence(self, campaign: int | None = None) -> Evidence:
        """What was recorded since restart(), in time order as a capture file holds it; with
        `campaign`, the OTA status of other campaigns (the previous example's result still on
        screen) is left out, so only this campaign is judged."""
        frames = self.recorder.after(self._position)
        self._position += len(frames)
        for frame in frames:
            decoded = self.codec.decode(frame.arbitration_id, frame.data)
            if decoded is not None:
                self._records.append(CanRecord(frame.timestamp, decoded[0], frame.arbitration_id, decoded[1],
                                               frame.data))
        if frames:
            self._records.sort(key=lambda r: r.time)
        records = [r for r in self._records if campaign is None
                   or r.values.get("ota.status.campaign_id", campaign) in (0, campaign)]
        return Evidence(Path("live"), FlowTable(), records, CaptureInfo())


@dataclass
class UpdateWorld:
    """Everything the machine drives, and what it keeps across examples."""

    vehicle: Vehicle
    hmi: OwnerScreen
    backend: OtaBackend
    forward: FastForward
    monitor: SignalMonitor
    recording: LiveRecording
    policy: Policy
    sequences: dict[str, list[str]] = field(default_factory=dict)
    next_campaign: int = FIRST_CAMPAIGN
    examples: int = 0

    def allocate(self) -> int:
        self.next_campaign += 1
        return self.next_campaign - 1


class Violation(AssertionError):
    """An update invariant failed on the live recording."""


def violations(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.verdict is Verdict.FAIL]


class OtaUpdateMachine(RuleBasedStateMachine):
    def __init__(self, world: UpdateWorld) -> None:
        super().__init__()
        self.world = world
        self.campaign = 0
        self.fault = "none"
        self.duration_s = 0.0
        self.steps: list[str] = []
        self._waited = 0.0

    def _step(self, text: str) -> None:
        self.steps.append(text)
        self.world.hmi.log.record("exploration_step", campaign_id=self.campaign, step=text)

    @initialize(vehicle=st.sampled_from(VEHICLE_STATES), fault=st.sampled_from(FAULTS),
                duration_min=st.sampled_from((20, 10, 45)))
    def campaign_arrives(self, vehicle: str, fault: str, duration_min: int) -> None:
        world = self.world
        world.examples += 1
        world.recording.restart()
        world.backend.clear()
        world.hmi.reset()
        put(world.vehicle, vehicle, world.monitor)
        self.campaign, self.fault, self.duration_s = world.allocate(), fault, duration_min * 60.0
        world.sequences[str(self.campaign)] = self.steps
        self._step(f"campaign_arrives(vehicle={vehicle!r}, fault={fault!r}, duration_min={duration_min})")
        backend_faults = (fault,) if fault in ("corrupt", "bad-signature", "network-cut", "slow-link") else ()
        target = next_version(self._installed())
        campaign = example_campaign(self.campaign, duration_min, target).but(package=SMALL_PACKAGE)
        world.backend.offer(campaign, *backend_faults)
        world.hmi.wait_for_notice(self.campaign, timeout_vehicle_s=NOTICE_WAIT_S)

    @rule(action=st.sampled_from(ANSWERS))
    def owner_answers(self, action: str) -> None:
        self._step(f"owner_answers({action!r})")
        self.world.hmi.answer(self.campaign, action, postpone_min=30 if action == "Postpone" else 0)

    @rule(state=st.sampled_from(VEHICLE_STATES))
    def vehicle_changes(self, state: str) -> None:
        self._step(f"vehicle_changes({state!r})")
        put(self.world.vehicle, state, self.world.monitor)

    @rule(minutes=st.sampled_from((5, 20, 60)))
    def time_passes(self, minutes: int) -> None:
        self._step(f"time_passes(minutes={minutes})")
        self._run(minutes * 60.0, lambda v: False, catch_up=False)

    @rule()
    def supply_fails(self) -> None:
        self._step("supply_fails()")
        supply_dip(self.world.vehicle, self.world.monitor, tick=self.world.forward.tick)

    @invariant()
    def installs_only_with_consent_in_a_safe_state(self) -> None:
        if not self.campaign:
            return
        evidence = self.world.recording.evidence(self.campaign)
        policy = self.world.policy
        self._judge(check_consent(evidence, policy, installation_expected=False)
                    + check_safe_state(evidence, policy, installation_expected=False, min_soc_pct=MIN_SOC_PCT))

    def teardown(self) -> None:
        """The epilogue: from the road the owner accepts whatever is pending, the vehicle parks, the
        update runs to its end; then it must have ended on a working version, the owner told."""
        if not self.campaign:
            return
        world = self.world
        self._step("epilogue(accept_from_road, park, run_to_end)")
        put(world.vehicle, "driving", world.monitor)
        state = world.hmi.status()
        if state == "Postponed":
            world.hmi.wait_for_notice(self.campaign, timeout_vehicle_s=2 * 3600)
            state = world.hmi.status()
        if state == "AwaitingConsent":
            world.hmi.accept(self.campaign)
        self._run(1800, lambda v: v.get("ota.status.state") in AT_REST | {"WaitingSafeState", "Installing"})
        # two more minutes on the road (running out of them is the usual way this ends)
        self._run(120, lambda v: v.get("ota.status.state") in AT_REST, catch_up=False)
        put(world.vehicle, "parked", world.monitor)
        self._run(6 * 3600, lambda v: v.get("ota.status.state") in AT_REST)
        if world.hmi.status() not in AT_REST:
            raise Violation(f"campaign {self.campaign}: the update had not ended 6 h (vehicle time) after the "
                            f"vehicle parked; the owner's screen shows {world.hmi.status()}")
        await_after_end(world.monitor, world.forward.tick)
        self._judge(invariant_findings(world.recording.evidence(self.campaign), world.policy, MIN_SOC_PCT))

    # -- helpers ------------------------------------------------------------------------------
    def _installed(self) -> tuple[int, int, int]:
        v = self.world.monitor.snapshot()
        return (int(v.get("ota.status.version_major", 1)), int(v.get("ota.status.version_minor", 0)),
                int(v.get("ota.status.version_patch", 0)))

    def _run(self, vehicle_s: float, done: Callable[[Mapping[str, Any]], bool], catch_up: bool = True) -> None:
        """Fast-forward until `done`, failing the supply once mid-installation when this campaign's
        fault says so. A download runs in network (wall) time: vehicle time is not jumped meanwhile."""
        forward, monitor = self.world.forward, self.world.monitor

        def cut_due(v: Mapping[str, Any]) -> bool:
            return (self.fault == "power-loss" and v.get("ota.status.state") == "Installing"
                    and int(v.get("ota.status.progress_pct", 0)) >= 30)

        def downloading(v: Mapping[str, Any]) -> bool:
            return v.get("ota.status.state") == "Downloading"

        def to_cut(v: Mapping[str, Any]) -> bool:
            return self.fault == "power-loss" and v.get("ota.status.state") == "Installing"

        # few jumps, each one the ECU answers; an installation to be cut short in steps of a tenth of
        # its duration, so the cut comes between 30 and 40 % and not after the end
        fine = [False]

        def stop(v: Mapping[str, Any]) -> bool:
            return (done(v) or cut_due(v) or (self._waited < DOWNLOAD_WAIT_S and downloading(v))
                    or to_cut(v) != fine[0])

        deadline = forward.clock.now() + vehicle_s
        self._waited = 0.0
        while True:
            fine[0] = to_cut(monitor.snapshot())
            step = self.duration_s / 10 if fine[0] else max(forward.step_s, vehicle_s / RUN_STEPS)
            if not forward.until(stop, max(0.0, deadline - forward.clock.now()), step_s=step, hold=False,
                                 catch_up=catch_up):
                return
            now = monitor.snapshot()
            if done(now):
                return
            if cut_due(now):
                self._step("supply_fails(at='installing, 30 %')")
                supply_dip(self.world.vehicle, monitor, tick=forward.tick)
                self.fault = "power-loss (done)"
            elif downloading(now):
                self._waited += forward.through_network(done, DOWNLOAD_WAIT_S - self._waited,
                                                        max(0.0, deadline - forward.clock.now()))

    def _judge(self, findings: list[Finding]) -> None:
        failed = violations(findings)
        if failed:
            raise Violation("; ".join(f"{f.check}: {f.detail}" for f in failed))


def await_after_end(monitor: SignalMonitor, tick: Callable[[], None]) -> bool:
    """Once the ECU shows an update ended, wait until the bus (and so the recording, on the same
    tap) holds a drive inhibit sent after that status, so the check reads the ECU's word after the
    end. The frames of the tick that ended the update may still be on their way when its status is
    seen (two CPUs may deliver them out of order): a recording read then ends on the drive inhibit
    of the installation. `tick` asks the ECU for a tick, which it answers with its drive inhibit."""
    ended = monitor.last_seen(monitor.codec.ref("ota.status.state").message) or time.time()
    tick()
    # none at all is for the check to find (inconclusive), not for the exploration to decide
    return monitor.wait_message(monitor.codec.ref("ota.inhibit.request").message, SETTLE_S, after=ended)


@dataclass(frozen=True)
class ExplorationResult:
    seed: int
    examples: int
    failure: str | None            # the first violation, or None
    wall_s: float


def explore_updates(world: UpdateWorld, seed_value: int, examples: int = 40, steps: int = 4) -> ExplorationResult:
    """Run the machine for `examples` campaigns of `steps` steps each (the initial arrival included),
    generate phase only: a violation is reported, not shrunk, since each replay costs rig time."""
    def factory() -> OtaUpdateMachine:
        return OtaUpdateMachine(world)

    seeded = seed(seed_value)(factory)
    started = time.monotonic()
    failure: str | None = None
    try:
        run_state_machine_as_test(seeded, settings=settings(  # type: ignore[arg-type]
            max_examples=examples, stateful_step_count=steps, phases=[Phase.generate], database=None,
            deadline=None, suppress_health_check=list(HealthCheck), print_blob=False, report_multiple_bugs=False))
    except Exception as exc:  # noqa: BLE001 - hypothesis re-raises the violation (or a flaky replay of it)
        failure = _first_line(exc)
    return ExplorationResult(seed_value, world.examples, failure, time.monotonic() - started)


def _first_line(exc: BaseException) -> str:
    inner: BaseException = exc
    while isinstance(inner, BaseExceptionGroup) and inner.exceptions:
        inner = inner.exceptions[0]
    text = str(inner).strip().splitlines()
    return text[0] if text else type(inner).__name__
