"""Where the harness's own data lives: the source checkout, or the copy inside the installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`suites`, `rigs` or `dbc`: beside the package in a checkout, under _data/ in a wheel."""
    checkout = _PACKAGE.parent / name
    return checkout if checkout.is_dir() else _PACKAGE / "_data" / name


def default_rig() -> Path:
    return data_dir("rigs") / "virtual.toml"
