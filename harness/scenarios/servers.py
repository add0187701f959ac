"""Running a socketserver inside the cloud namespace, in a thread the rig owns.

The listening socket is opened inside the namespace and keeps it; everything else about the
server is ordinary socketserver code."""

from __future__ import annotations

import socketserver
import threading
from collections.abc import Callable
from contextlib import nullcontext
from typing import TypeVar

from harness.errors import RigError
from harness.rig.netns import entered

ServerT = TypeVar("ServerT", bound=socketserver.BaseServer)


class ThreadedServers:
    """Starts servers in threads and shuts every one of them down on close()."""

    def __init__(self, namespace: str | None) -> None:
        self.namespace = namespace
        self._servers: list[tuple[socketserver.BaseServer, threading.Thread]] = []

    def start(self, factory: Callable[[], ServerT], name: str) -> ServerT:
        try:
            with entered(self.namespace) if self.namespace else nullcontext():
                server = factory()
        except OSError as exc:
            raise RigError(f"simulated {name} could not listen: {exc.strerror or exc}") from None
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                  name=f"cloud-{name}", daemon=True)
        thread.start()
        self._servers.append((server, thread))
        return server

    def close(self) -> None:
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=2)
        self._servers.clear()


class ReusableTCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    block_on_close = False
