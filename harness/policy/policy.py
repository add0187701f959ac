"""The policy a check judges against: the profile (rules, clauses, categories) and the netmap.

Bundled with the evidence so a replay judges against exactly what the live run used."""

from __future__ import annotations

from dataclasses import dataclass

from harness.policy.netmap import Netmap
from harness.policy.profile import Profile


@dataclass(frozen=True)
class Policy:
    profile: Profile
    netmap: Netmap
