"""Who made an evidence bundle: an in-toto Statement (v1) whose subject is the bundle's manifest.json and whose
predicate is the run's verdict record, signed in a DSSE envelope written beside the manifest.

The manifest hashes every file, so the one signature covers every byte and every recorded verdict. The
envelope is plain DSSE, so an approval body can check it with openssl alone (see the README)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.report.keys import Signer, TrustedKey
from harness.report.manifest import ENVELOPE, MANIFEST, BundleError

PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
# a name for the harness's verdict record, not an address anything is fetched from
PREDICATE_TYPE = "https://vehicle-conformance-harness.example/verdict-record/v1"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature is over (type and payload, length-prefixed)."""
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def statement(bundle: Path) -> dict[str, Any]:
    """The in-toto statement for the bundle at `bundle`: its manifest as subject, its verdicts as predicate."""
    manifest_bytes = (bundle / MANIFEST).read_bytes()
    manifest = json.loads(manifest_bytes)
    run = json.loads((bundle / str(manifest.get("results", "results.json"))).read_text(encoding="utf-8"))
    tests = [{"nodeid": t.get("nodeid"), "verdict": t.get("verdict"), "rules": t.get("rules") or [],
              "clauses": t.get("clauses") or []} for t in run.get("tests") or ()]
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": MANIFEST, "digest": {"sha256": hashlib.sha256(manifest_bytes).hexdigest()}}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "harness_version": manifest.get("harness_version"),
            "run": {k: run.get(k) for k in ("profile", "vecu_defect", "hypothesis_seed", "started")},
            "verdict": run.get("verdict"), "counts": run.get("counts"), "tests": tests,
        },
    }


def sign_bundle(bundle: Path, signer: Signer) -> Path:
    """Write the DSSE envelope of the bundle's statement to `bundle/manifest.dsse.json`."""
    payload = json.dumps(statement(bundle), sort_keys=True, separators=(",", ":")).encode("utf-8")
    signature = signer.sign(pae(PAYLOAD_TYPE, payload))
    envelope = {"payloadType": PAYLOAD_TYPE, "payload": base64.b64encode(payload).decode("ascii"),
                "signatures": [{"keyid": signer.trusted.keyid, "sig": base64.b64encode(signature).decode("ascii")}]}
    target = bundle / ENVELOPE
    target.write_text(json.dumps(envelope, indent=2) + "\n", encoding="utf-8")
    return target


@dataclass(frozen=True)
class Signature:
    """What a bundle says about its signer; `verified` only when a trusted key checked it."""

    signed: bool
    keyids: tuple[str, ...] = ()
    verified_by: str = ""  # the trusted key's name (a certificate's subject) once verified
    problem: str = ""  # why the envelope cannot be a signature of this bundle, seen without a key

    def describe(self) -> str:
        if not self.signed:
            return "not signed"
        if self.problem:
            return f"signed, but {self.problem}"
        if self.verified_by:
            return f"signed by {self.verified_by} (key {self.keyids[0][:16]}), signature verified"
        return f"signed by key {', '.join(k[:16] for k in self.keyids)} (not checked; give --trust KEY to check)"


def _envelope(bundle: Path) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The envelope's payload and its (keyid, signature) pairs; BundleError if it is not a DSSE envelope."""
    broken = BundleError(f"{bundle}: {ENVELOPE} is not a DSSE envelope; the signature has been altered")
    try:
        envelope = json.loads((bundle / ENVELOPE).read_bytes())
        if envelope["payloadType"] != PAYLOAD_TYPE:
            raise BundleError(f"{bundle}: {ENVELOPE} carries {envelope['payloadType']!r}, not an in-toto statement")
        payload = base64.b64decode(envelope["payload"], validate=True)
        signatures = [(str(s.get("keyid", "")), base64.b64decode(s["sig"], validate=True))
                      for s in envelope["signatures"]]
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error):
        raise broken from None
    if not signatures:
        raise broken
    return payload, signatures


def _subject_problem(bundle: Path, payload: bytes) -> str:
    """Why the signed statement does not vouch for this bundle's manifest ('' when it does)."""
    try:
        signed = json.loads(payload)
        digests = {s["name"]: s["digest"]["sha256"] for s in signed["subject"]}
        kind, predicate = signed["_type"], signed["predicateType"]
    except (ValueError, KeyError, TypeError):
        return "the signed payload is not an in-toto statement"
    if kind != STATEMENT_TYPE or predicate != PREDICATE_TYPE:
        return f"the signed statement is a {predicate!r}, not the harness's verdict record"
    actual = hashlib.sha256((bundle / MANIFEST).read_bytes()).hexdigest()
    if digests.get(MANIFEST) != actual:
        return f"{MANIFEST} does not match the signed statement (sha256 differs); it was changed after signing"
    return ""


def inspect(bundle: Path) -> Signature:
    """Whether the bundle is signed, by which key ids, and whether the statement names this manifest."""
    if not (bundle / ENVELOPE).is_file():
        return Signature(False)
    try:
        payload, signatures = _envelope(bundle)
    except BundleError as exc:
        return Signature(True, problem=str(exc).split(": ", 1)[-1])
    return Signature(True, tuple(k for k, _ in signatures), problem=_subject_problem(bundle, payload))


def require_signature(bundle: Path, trusted: TrustedKey) -> Signature:
    """The bundle's signature checked against `trusted`; BundleError (one line) for an unsigned bundle, a
    different signer, a signature that does not verify, or a manifest the signature does not cover."""
    if not (bundle / ENVELOPE).is_file():
        raise BundleError(f"{bundle}: the bundle is not signed ({ENVELOPE} is missing); --trust accepts only "
                          f"bundles signed with harness run --sign")
    payload, signatures = _envelope(bundle)
    message = pae(PAYLOAD_TYPE, payload)
    # a keyid is an unsigned hint: every signature is tried against the trusted key
    if not any(trusted.verifies(sig, message) for _, sig in signatures):
        keyids = [k for k, _ in signatures]
        if trusted.keyid not in keyids:
            raise BundleError(f"{bundle}: signed by another key ({', '.join(k[:16] for k in keyids) or 'no key id'}),"
                              f" not by the trusted {trusted.name} ({trusted.keyid[:16]})")
        raise BundleError(f"{bundle}: the signature does not verify with the trusted {trusted.name}; the envelope "
                          f"has been altered")
    problem = _subject_problem(bundle, payload)
    if problem:
        raise BundleError(f"{bundle}: {problem}")
    return Signature(True, (trusted.keyid,), trusted.name)
