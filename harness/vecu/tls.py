"""TLS as the vehicle speaks it: it trusts the rig's CA, presents its own certificate (mutual TLS
where the server asks), and writes an NSS key log, as an engineering build does, so the harness
can read what it sent.

The rig hands these over in the process environment: the directory with `ca.pem`, `vehicle.pem`
and `vehicle.key`, and the key-log file (the variable every TLS library's key logging honours)."""

from __future__ import annotations

import os
import ssl
from functools import cache
from pathlib import Path

TLS_DIR_ENV = "HARNESS_VECU_TLS_DIR"
KEYLOG_ENV = "SSLKEYLOGFILE"


@cache
def client_context() -> ssl.SSLContext | None:
    """The vehicle's client context, or None where the rig gave it no TLS material."""
    directory = os.environ.get(TLS_DIR_ENV)
    if not directory:
        return None
    base = Path(directory)
    context = ssl.create_default_context(cafile=str(base / "ca.pem"))
    context.load_cert_chain(base / "vehicle.pem", base / "vehicle.key")
    keylog = os.environ.get(KEYLOG_ENV)
    if keylog:
        context.keylog_filename = keylog
    return context
