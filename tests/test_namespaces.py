"""The virtual rig explains what it needs when the machine cannot give it namespaces."""

from __future__ import annotations

import os

import pytest

from harness.errors import RigError
from harness.rig import netns


def test_non_root_is_told_how_to_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.os, "geteuid", lambda: 1000)
    with pytest.raises(RigError, match="needs root"):
        netns.require_namespaces()


def test_missing_iproute2_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    with pytest.raises(RigError, match="apt-get install iproute2"):
        netns.require_namespaces()


def test_namespace_is_entered_and_left() -> None:
    name = f"{netns.owned_prefix()}probe"
    netns.create(name)
    try:
        own = os.readlink("/proc/thread-self/ns/net")
        with netns.entered(name):
            inside = os.readlink("/proc/thread-self/ns/net")
        assert inside != own
        assert os.readlink("/proc/thread-self/ns/net") == own
    finally:
        netns.delete(name)
    assert not netns.exists(name)


def test_stale_namespaces_of_dead_processes_are_swept() -> None:
    stale = "hv999999999stale"  # no process has this pid
    netns.create(stale)
    assert stale in netns.sweep_stale()
    assert not netns.exists(stale)
