"""Open the rig's CAN bus through python-can, by interface name, in the rig's CAN namespace.

Any python-can interface works (socketcan, pcan, vector, kvaser, udp_multicast, ...): the rig
file names it, this module only adds clear errors, the namespace and, for the cross-process
virtual bus, a receive buffer deep enough to carry a full bus."""

from __future__ import annotations

import logging
import os
import socket
from contextlib import nullcontext

import can

from harness.errors import RigError
from harness.rig.config import CanConfig
from harness.rig.netns import entered

log = logging.getLogger(__name__)

# udp_multicast delivers each frame as a datagram into every member's socket queue, and the kernel
# drops what does not fit: the default queue (rmem_default, 208 KiB) holds about 500 frames, 60 ms
# of a full 1 Mbit/s bus (8,700 frames/s), less than a receiver on a busy machine may wait for the
# CPU. 8 MiB (the kernel doubles it for bookkeeping) holds about 20,000 frames: over 2 s of a full
# bus. Memory is charged only for frames actually queued (a socket only ever sent on fills up
# once, 16 MiB, and drops from then on as before). bench/can_bus.py measures the effect.
RECEIVE_BUFFER_BYTES = 8 * 1024 * 1024
SO_RCVBUFFORCE = 33  # Linux: like SO_RCVBUF but not capped by net.core.rmem_max (CAP_NET_ADMIN)
_DEEP_QUEUE_INTERFACES = ("udp_multicast",)


def open_bus(config: CanConfig, namespace: str | None = None) -> can.BusABC:
    kwargs = dict(config.options)
    # a rig file may set its own depth, e.g. options = { receive_buffer_bytes = 16777216 }
    depth = int(kwargs.pop("receive_buffer_bytes", RECEIVE_BUFFER_BYTES))
    if config.interface not in ("udp_multicast", "virtual"):
        kwargs.setdefault("bitrate", config.bitrate)
    if config.fd:
        kwargs.setdefault("fd", True)
        if config.data_bitrate:
            kwargs.setdefault("data_bitrate", config.data_bitrate)
    try:
        with entered(namespace) if namespace else nullcontext():
            bus = can.Bus(interface=config.interface, channel=config.channel, **kwargs)
    except (can.CanError, OSError, ValueError, ImportError, NotImplementedError) as exc:
        raise RigError(
            f"CAN interface {config.interface!r} channel {config.channel!r} does not open: {exc}"
        ) from None
    if config.interface in _DEEP_QUEUE_INTERFACES:
        deepen_receive_queue(bus, depth)
    return bus


def deepen_receive_queue(bus: can.BusABC, depth: int) -> int:
    """Give the bus's socket a receive queue of `depth` bytes; returns what the kernel granted.

    Works on the socket behind python-can's public fileno(), so the bus stays the stock one."""
    try:
        fd = bus.fileno()
    except NotImplementedError:
        return 0
    if fd < 0:
        return 0
    sock = socket.socket(fileno=os.dup(fd))  # a second handle on the same socket, closed below
    try:
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, depth)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, depth)  # capped at net.core.rmem_max
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    except OSError as exc:
        log.warning("CAN receive queue left at the system default (%s): frames may be lost under load", exc)
        return 0
    finally:
        sock.close()
    if granted < depth:
        log.warning("CAN receive queue is %d bytes, not the %d asked for (net.core.rmem_max caps it "
                    "without CAP_NET_ADMIN): frames may be lost under load", granted, depth)
    return granted
