"""Open the rig's CAN bus through python-can, by interface name, in the rig's CAN namespace.

Any python-can interface works (socketcan, pcan, vector, kvaser, udp_multicast, ...): the rig
file names it, this module only adds clear errors and the namespace."""

from __future__ import annotations

from contextlib import nullcontext

import can

from harness.errors import RigError
from harness.rig.config import CanConfig
from harness.rig.netns import entered


def open_bus(config: CanConfig, namespace: str | None = None) -> can.BusABC:
    kwargs = dict(config.options)
    if config.interface not in ("udp_multicast", "virtual"):
        kwargs.setdefault("bitrate", config.bitrate)
    if config.fd:
        kwargs.setdefault("fd", True)
        if config.data_bitrate:
            kwargs.setdefault("data_bitrate", config.data_bitrate)
    try:
        with entered(namespace) if namespace else nullcontext():
            return can.Bus(interface=config.interface, channel=config.channel, **kwargs)
    except (can.CanError, OSError, ValueError, ImportError, NotImplementedError) as exc:
        raise RigError(
            f"CAN interface {config.interface!r} channel {config.channel!r} does not open: {exc}"
        ) from None
