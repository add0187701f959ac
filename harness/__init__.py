"""Conformance test harness for connected vehicles.

Observe an ECU over CAN and Ethernet, then judge the evidence against data-locality,
data-minimization and OTA-safety rules."""

__version__ = "0.1.0"
