"""Replay: re-judge every test of a verified evidence bundle offline, with the bundled DBC, signal
mapping, profile and netmap, running the checks the live run recorded with the parameters it recorded.

No rig, no namespaces, no root: checks are pure functions of evidence and policy, so the verdicts and
findings must come out exactly as the live run wrote them; any difference is reported, never hidden. Given a
trusted key, a bundle that is not signed by it is refused before anything is replayed."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.can.codec import VehicleCodec
from harness.checks.registry import check_named
from harness.errors import HarnessError
from harness.findings import Finding, Verdict, worst
from harness.net.evidence import READ_WITH, load_evidence_with
from harness.policy.netmap import load_netmap
from harness.policy.policy import Policy
from harness.policy.profile import load_profile
from harness.report.judgment import canonical, conclude, findings_json
from harness.report.keys import TrustedKey
from harness.report.manifest import Bundle, BundleError, open_bundle
from harness.report.signing import Signature, inspect, require_signature
from harness.report.versions import code_digest
from harness.truth.files import parse_truth
from harness.truth.model import GroundTruth


@dataclass
class ReplayedTest:
    nodeid: str
    name: str
    rules: list[str]
    verdict: Verdict
    reason: str
    findings: list[Finding]
    recorded_verdict: str
    recorded_findings: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reproduced(self) -> bool:
        return (self.verdict.value == self.recorded_verdict
                and findings_json(self.findings) == findings_json(self.recorded_findings))

    def to_dict(self) -> dict[str, Any]:
        return {"nodeid": self.nodeid, "name": self.name, "rules": self.rules, "verdict": self.verdict.value,
                "reason": self.reason, "findings": [f.to_dict() for f in self.findings],
                "recorded_verdict": self.recorded_verdict, "reproduced": self.reproduced}


@dataclass
class Replay:
    bundle: str
    run: dict[str, Any]
    tests: list[ReplayedTest]
    recorded_code: str = ""  # the digest of the harness code that made the bundle
    replay_code: str = ""  # ...and of the code replaying it: a difference explains changed findings
    signature: Signature = field(default_factory=lambda: Signature(False))

    @property
    def same_code(self) -> bool:
        return bool(self.recorded_code) and self.recorded_code == self.replay_code

    @property
    def verdict(self) -> Verdict:
        return worst((t.verdict for t in self.tests), default=Verdict.ERROR if not self.tests else Verdict.PASS)

    @property
    def differences(self) -> list[ReplayedTest]:
        return [t for t in self.tests if not t.reproduced]

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": self.bundle, "profile": self.run.get("profile"), "started": self.run.get("started"),
                "verdict": self.verdict.value, "reproduced": not self.differences,
                "harness_code": {"bundle": self.recorded_code, "replay": self.replay_code},
                "signature": {"signed": self.signature.signed, "verified": bool(self.signature.verified_by),
                              "signer": self.signature.verified_by, "keyids": list(self.signature.keyids),
                              "problem": self.signature.problem, "summary": self.signature.describe()},
                "counts": {v.value: sum(1 for t in self.tests if t.verdict is v) for v in Verdict},
                "tests": [t.to_dict() for t in self.tests]}


def replay(path: Path, trust: TrustedKey | None = None) -> Replay:
    """Verify the bundle at `path` (directory or archive), then re-judge every test in it.

    With `trust`, the bundle must carry a signature of that key over its manifest (BundleError otherwise)."""
    signatures: list[Signature] = []

    def signed(root: Path) -> None:
        signatures.append(require_signature(root, trust) if trust is not None else inspect(root))

    with open_bundle(path, signed) as bundle:
        policy, codec = _policy(bundle), _codec(bundle)
        run = bundle.run()
        tests = [_replay_test(bundle, test, policy, codec) for test in run["tests"]]
        recorded = _recorded_code(bundle)
    return Replay(str(path), run, tests, recorded, code_digest(), signatures[0])


def _recorded_code(bundle: Bundle) -> str:
    try:
        data = json.loads(bundle.path("versions.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return str(data.get("harness_code_sha256") or "") if isinstance(data, dict) else ""


def _policy(bundle: Bundle) -> Policy:
    try:
        return Policy(load_profile(bundle.config("profile")), load_netmap(bundle.config("netmap")))
    except HarnessError as exc:
        raise BundleError(f"{bundle.root}: the bundled policy does not load: {exc}") from None


def _codec(bundle: Bundle) -> VehicleCodec:
    try:
        return VehicleCodec.load(bundle.config("dbc"), bundle.config("signal_mapping"))
    except HarnessError as exc:
        raise BundleError(f"{bundle.root}: the bundled DBC and signal mapping do not load: {exc}") from None


def _truth(bundle: Bundle, test: dict[str, Any]) -> GroundTruth | None:
    """The ground truth the live run searched payloads for (its track is re-read from the capture)."""
    recorded = (test.get("evidence") or {}).get("truth")
    if not recorded:
        return None
    try:
        return parse_truth(tomllib.loads(bundle.path(recorded).read_text(encoding="utf-8")), bundle.path(recorded))
    except (OSError, ValueError, HarnessError) as exc:
        raise BundleError(f"{bundle.root}: the ground truth of {test.get('nodeid')} does not load: {exc}") from None


def _replay_test(bundle: Bundle, test: dict[str, Any], policy: Policy, codec: VehicleCodec) -> ReplayedTest:
    recorded = str(test.get("verdict", "error"))
    result = ReplayedTest(str(test.get("nodeid", "")), str(test.get("name", "")), list(test.get("rules") or []),
                        Verdict.ERROR, str(test.get("reason") or "the test recorded no verdict"), [], recorded,
                        list(test.get("findings") or []))
    checks = test.get("checks") or []
    if not checks:
        return result  # it ended before judging: the recorded error is all there is to say
    capture = (test.get("evidence") or {}).get("capture")
    if not capture or not bundle.path(capture).is_file():
        result.reason = result.reason if recorded == "error" else "the bundle holds no capture for this test"
        return result
    recorded_files = test.get("evidence") or {}  # the same secrets and keys the live run read with
    files = {name: bundle.path(recorded_files[name]) for name in READ_WITH if recorded_files.get(name)}
    evidence = load_evidence_with(bundle.path(capture), codec, files, _truth(bundle, test))
    findings: list[Finding] = []
    try:
        for entry in checks:
            findings.extend(check_named(str(entry["check"]))(evidence, policy, **dict(entry.get("params") or {})))
    except Exception as exc:  # noqa: BLE001 - a check that breaks is an error verdict, as in the live run
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        result.reason = f"call: {message}"
        result.findings = canonical(findings)
        return result
    result.findings = canonical(findings)
    result.verdict, result.reason = conclude(result.findings)
    if recorded == "error" and result.verdict is not Verdict.ERROR:
        # the live run broke after judging (rig, vECU, the test's own code): that is a fact of the run
        # the evidence cannot show, so the recorded error stands
        result.verdict, result.reason = Verdict.ERROR, str(test.get("reason") or result.reason)
    return result
