"""Errors a lab engineer can act on.

Each carries a one-line message naming what is wrong and how to fix it; the CLI prints
it without a traceback."""


class HarnessError(Exception):
    """A problem with the harness's input or environment, explained in one line."""


class ConfigError(HarnessError):
    """A rig, profile, netmap, DBC or defect name that cannot be used as given."""


class RigError(HarnessError):
    """The rig could not be brought up, or a part of it (vECU, bus, capture) failed."""
