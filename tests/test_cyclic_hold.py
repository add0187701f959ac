"""A message held off the bus (a node that boots late): neither its cycle nor a change sent at once
puts it on the bus, the values set meanwhile go out the moment it is released, and the fixture's
late node waits until nothing of it is still on its way."""

from __future__ import annotations

import time

import can
import pytest

from harness.can.codec import VehicleCodec
from harness.can.cyclic import CyclicTransmitter
from harness.can.monitor import SignalMonitor
from harness.errors import RigError
from harness.scenarios.clock import VehicleClock
from harness.scenarios.late_nodes import Withheld
from harness.scenarios.log import ScenarioLog
from tests.harness_runner import ROOT

CODEC = VehicleCodec.load(ROOT / "dbc" / "vehicle.dbc", ROOT / "dbc" / "vehicle.signals.toml")
PRIVACY = CODEC.ref("consent.cabin_camera").message


class Wire:
    """A bus that hands every frame to its listeners at once."""

    def __init__(self, *listeners: can.Listener) -> None:
        self.sent: list[str] = []
        self.listeners = listeners

    def send(self, msg: can.Message) -> None:
        decoded = CODEC.decode(msg.arbitration_id, bytes(msg.data))
        assert decoded is not None
        self.sent.append(decoded[0])
        msg.timestamp = time.time()
        for listener in self.listeners:
            listener.on_message_received(msg)


def _transmitter(*listeners: can.Listener) -> tuple[CyclicTransmitter, Wire]:
    wire = Wire(*listeners)
    return CyclicTransmitter(wire, CODEC, CODEC.simulated_messages()), wire  # type: ignore[arg-type]


def test_a_held_message_stays_off_the_bus_until_released() -> None:
    tx, wire = _transmitter()
    tx.hold(PRIVACY)
    tx.start()
    try:
        tx.set({"consent.cabin_camera": "On"})
        tx.send_now(PRIVACY)
        time.sleep(0.25)  # more than two cycles of every held and unheld 100 ms message
        assert PRIVACY not in wire.sent and "GlobalTimeSync" in wire.sent
        tx.release()
        assert wire.sent.count(PRIVACY) >= 1 and not tx.held
    finally:
        tx.stop()
    frame = tx.frame(PRIVACY)
    assert CODEC.decode(frame.arbitration_id, bytes(frame.data))[1]["consent.cabin_camera"] == "On"  # type: ignore[index]


def test_only_messages_this_side_sends_can_be_held() -> None:
    tx, _ = _transmitter()
    with pytest.raises(KeyError, match="OtaStatus"):
        tx.hold("OtaStatus")


def test_a_late_node_is_released_once_and_logged() -> None:
    monitor = SignalMonitor(CODEC)
    tx, wire = _transmitter(monitor)
    log = ScenarioLog(VehicleClock(100.0))
    late = Withheld(tx, monitor, log, ["consent.cabin_camera", "consent.voice"])
    assert late.messages == (PRIVACY,) and not late.not_sent()
    late.hold()
    assert late.holding and PRIVACY in tx.held
    late.release()
    late.release()
    assert wire.sent.count(PRIVACY) == 1 and [e["event"] for e in log.entries()] == ["withheld_released"]


def test_a_late_node_whose_frames_never_come_back_is_a_rig_error() -> None:
    tx, _ = _transmitter()  # nothing listens: the harness's own frames never come back
    late = Withheld(tx, SignalMonitor(CODEC), ScenarioLog(VehicleClock(1.0)), ["consent.voice"])
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("harness.scenarios.late_nodes.FLUSH_S", 0.05)
        with pytest.raises(RigError, match="did not come back"):
            late.hold()
    assert not tx.held


def test_a_message_another_node_sends_is_named_as_not_held() -> None:
    """On a bench whose own HMI sends the switches, the harness cannot hold them back: it says which."""
    others = [m for m in CODEC.simulated_messages() if m.name != PRIVACY]
    tx = CyclicTransmitter(Wire(), CODEC, others)  # type: ignore[arg-type]
    late = Withheld(tx, SignalMonitor(CODEC), ScenarioLog(VehicleClock(1.0)), ["consent.cabin_camera"])
    assert late.not_sent() == [PRIVACY]
