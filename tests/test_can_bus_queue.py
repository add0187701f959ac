"""The cross-process virtual bus keeps frames a busy receiver has not read yet: a burst far beyond
the system's default socket queue (about 500 frames) is delivered whole, so a receiver that waits
for the CPU does not lose frames (which would read as alive-counter gaps). bench/can_bus.py
measures the rates; this only proves the queue is deep."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import can
import pytest

from harness.can.bus import RECEIVE_BUFFER_BYTES, open_bus
from harness.rig import netns
from harness.rig.config import CanConfig

BURST = 5_000  # ten times what the default queue holds


@pytest.fixture()
def can_namespace() -> Iterator[str]:
    """An lo-only namespace with multicast routed to lo, as the virtual rig's CAN namespace."""
    name = f"{netns.owned_prefix()}canq"
    netns.create(name)
    try:
        netns.ip("route", "add", "224.0.0.0/4", "dev", "lo", namespace=name)
        yield name
    finally:
        netns.delete(name)


def _config(**options: object) -> CanConfig:
    return CanConfig(interface="udp_multicast", channel="239.74.163.9", dbc=Path("-"),
                     options={"port": 43177, **options})


def _queue(bus: can.BusABC) -> int:
    with socket.socket(fileno=socket.dup(bus.fileno())) as sock:
        return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)


def test_a_burst_waits_in_the_queue_until_read(can_namespace: str) -> None:
    receiver, sender = open_bus(_config(), can_namespace), open_bus(_config(), can_namespace)
    try:
        assert _queue(receiver) >= RECEIVE_BUFFER_BYTES
        for seq in range(BURST):  # nobody reads while the burst is sent
            sender.send(can.Message(arbitration_id=0x1A0, is_extended_id=False, data=seq.to_bytes(8, "big")))
        got = []
        while (msg := receiver.recv(timeout=0.5)) is not None:
            got.append(int.from_bytes(msg.data, "big"))
        assert got == list(range(BURST))
    finally:
        receiver.shutdown()
        sender.shutdown()


def test_a_rig_file_sets_its_own_depth(can_namespace: str) -> None:
    bus = open_bus(_config(receive_buffer_bytes=1 << 20), can_namespace)
    try:
        assert 1 << 20 <= _queue(bus) < RECEIVE_BUFFER_BYTES
    finally:
        bus.shutdown()
