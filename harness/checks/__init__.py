"""Judgment: pure functions of evidence and policy, one module per rule family.

Importing the package registers every check by name (see registry)."""

from harness.checks import (  # noqa: F401
    bus,
    consent,
    environment,
    locality,
    minimization,
    national_platform,
    ota,
    ota_diagnostics,
    ota_identity,
    ota_inhibit,
    ota_notice,
    ota_outcome,
    ota_performance,
    ota_postponement,
    ota_safety,
    ota_sequences,
    precision,
)
