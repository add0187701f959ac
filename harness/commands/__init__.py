"""The `harness` subcommands that are more than a few lines, one module each (`harness.cli` wires them)."""
