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
def client_context(log_keys: bool = True) -> ssl.SSLContext | None:
    """The vehicle's client context, or None where the rig gave it no TLS material; `log_keys=False`
    is a connection whose secrets the ECU leaves out of its key log (a seeded defect)."""
    directory = os.environ.get(TLS_DIR_ENV)
    if not directory:
        return None
    base = Path(directory)
    context = ssl.create_default_context(cafile=str(base / "ca.pem"))
    context.load_cert_chain(base / "vehicle.pem", base / "vehicle.key")
    keylog = os.environ.get(KEYLOG_ENV)
    # create_default_context already logs where the variable is set: withheld keys need it undone
    context.keylog_filename = keylog if keylog and log_keys else None  # type: ignore[assignment]
    return context
