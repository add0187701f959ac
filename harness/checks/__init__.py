"""Judgment: pure functions of evidence and policy, one module per rule family.

Importing the package registers every check by name (see registry)."""

from harness.checks import locality, ota  # noqa: F401
