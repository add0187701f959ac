"""Signed evidence bundles: a bundle signed with the lab's key replays under `--trust` with that key (or
its certificate); an unsigned bundle, another signer, a changed manifest or a changed envelope is refused
in one line with exit status 4 before anything is replayed; a key file that does not load is a usage error.
The envelope is plain DSSE: openssl checks it without the harness."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import NameOID

from harness.report.keys import load_signer, load_trusted, write_key_pair
from harness.report.manifest import ENVELOPE, MANIFEST, BundleError, file_digest, verify, write_sums
from harness.report.signing import PAYLOAD_TYPE, inspect, require_signature, sign_bundle
from tests.harness_runner import RunResult

LAB = "CN=Vehicle Test Lab 7,O=Example Lab"


def _cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=120, check=False)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    private, public, _ = write_key_pair(tmp_path / "lab.key")
    return private, public


@pytest.fixture
def signed(compliant_run: RunResult, keys: tuple[Path, Path], tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(compliant_run.reports / "bundle", bundle)
    sign_bundle(bundle, load_signer(keys[0]))
    return bundle


def _refused(done: subprocess.CompletedProcess[str], *words: str) -> None:
    assert done.returncode == 4, done.stdout[-500:] + done.stderr
    assert done.stdout == "" and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(tmp_path: Path) -> None:
    done = _cli("keygen", tmp_path / "lab.key", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "lab.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "lab.key.pub").read_text(encoding="ascii").startswith("-----BEGIN PUBLIC KEY-----")
    again = _cli("keygen", tmp_path / "lab.key", cwd=tmp_path)
    assert again.returncode == 2 and again.stderr.count("\n") == 1 and "never overwrites" in again.stderr


def test_signed_bundle_replays_with_the_trusted_key(signed: Path, keys: tuple[Path, Path],
                                                    compliant_run: RunResult, tmp_path: Path) -> None:
    envelope = json.loads((signed / ENVELOPE).read_text(encoding="utf-8"))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    assert envelope["payloadType"] == PAYLOAD_TYPE and statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["subject"] == [{"name": MANIFEST, "digest": {"sha256": file_digest(signed / MANIFEST)}}]
    recorded = {t["nodeid"]: t["verdict"] for t in compliant_run.results["tests"]}
    assert {t["nodeid"]: t["verdict"] for t in statement["predicate"]["tests"]} == recorded
    assert statement["predicate"]["verdict"] == compliant_run.results["verdict"]
    verify(signed)  # the envelope sits beside the manifest without breaking its integrity check
    done = _cli("replay", signed, "--trust", keys[1], "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    signature = json.loads(done.stdout)["signature"]
    assert signature["verified"] is True and signature["signer"] == "lab.key.pub"
    # without --trust a replay goes ahead and says the bundle is signed, by which key, unchecked
    assert inspect(signed).describe().startswith(f"signed by key {load_trusted(keys[1]).keyid[:16]} (not checked")


def test_unsigned_bundle_is_refused_under_trust(compliant_run: RunResult, keys: tuple[Path, Path],
                                                tmp_path: Path) -> None:
    _refused(_cli("replay", compliant_run.reports / "bundle", "--trust", keys[1], cwd=tmp_path), "not signed")
    assert inspect(compliant_run.reports / "bundle").describe() == "not signed"


def test_bundle_signed_by_another_key_is_refused(signed: Path, tmp_path: Path) -> None:
    _, other, _ = write_key_pair(tmp_path / "other.key")
    _refused(_cli("replay", signed, "--trust", other, cwd=tmp_path), "signed by another key", "other.key.pub")


def test_manifest_changed_after_signing_is_refused_even_with_matching_sums(signed: Path, keys: tuple[Path, Path],
                                                                           tmp_path: Path) -> None:
    """A careful forger rewrites SHA256SUMS too, so the bundle is consistent; only the signature tells."""
    manifest = json.loads((signed / MANIFEST).read_text(encoding="utf-8"))
    manifest["run"]["verdict"] = "fail" if manifest["run"]["verdict"] == "pass" else "pass"
    (signed / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    write_sums(signed, {**{k: v["sha256"] for k, v in manifest["files"].items()},
                        MANIFEST: file_digest(signed / MANIFEST)})
    verify(signed)  # consistent in itself
    _refused(_cli("replay", signed, "--trust", keys[1], cwd=tmp_path), "manifest.json does not match the signed")
    assert inspect(signed).describe().startswith("signed, but manifest.json does not match the signed statement")


def test_envelope_with_a_changed_payload_is_refused(signed: Path, keys: tuple[Path, Path], tmp_path: Path) -> None:
    envelope = json.loads((signed / ENVELOPE).read_text(encoding="utf-8"))
    statement = json.loads(base64.b64decode(envelope["payload"]))
    statement["predicate"]["tests"][0]["verdict"] = "fail"
    envelope["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    (signed / ENVELOPE).write_text(json.dumps(envelope), encoding="utf-8")
    _refused(_cli("replay", signed, "--trust", keys[1], cwd=tmp_path), "signature does not verify")
    (signed / ENVELOPE).write_text("{not json", encoding="utf-8")
    _refused(_cli("replay", signed, "--trust", keys[1], cwd=tmp_path), "not a DSSE envelope")


def _certificate(private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey, path: Path) -> Path:
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Lab"),
                      x509.NameAttribute(NameOID.COMMON_NAME, "Vehicle Test Lab 7")])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now)
               .not_valid_after(now + datetime.timedelta(days=1)))
    algorithm = None if isinstance(private, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    path.write_bytes(builder.sign(private, algorithm).public_bytes(serialization.Encoding.PEM))
    return path


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa-p256"])
def test_certificate_names_the_signer(compliant_run: RunResult, kind: str, tmp_path: Path) -> None:
    """A lab with a certificate signs with its key; trusting the certificate names the lab."""
    private = ed25519.Ed25519PrivateKey.generate() if kind == "ed25519" else ec.generate_private_key(ec.SECP256R1())
    key = tmp_path / "lab.key"
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    certificate = _certificate(private, tmp_path / "lab.crt")
    bundle = tmp_path / "bundle"
    shutil.copytree(compliant_run.reports / "bundle", bundle)
    sign_bundle(bundle, load_signer(key, certificate))
    checked = require_signature(bundle, load_trusted(certificate))
    assert checked.describe().startswith(f"signed by {LAB} (key ") and checked.describe().endswith("verified")
    with pytest.raises(BundleError, match="signed by another key"):
        require_signature(bundle, load_trusted(_certificate(ed25519.Ed25519PrivateKey.generate(), tmp_path / "x")))


def test_bad_key_files_are_usage_errors(tmp_path: Path) -> None:
    rsa_key = tmp_path / "rsa.key"
    rsa_key.write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n", encoding="ascii")
    private, public, _ = write_key_pair(tmp_path / "lab.key")
    other = _certificate(ed25519.Ed25519PrivateKey.generate(), tmp_path / "other.crt")
    bundle = tmp_path / "bundle"  # the key is read first: the bundle is never opened
    attempts = {
        ("replay", bundle, "--trust", tmp_path / "missing.pub"): "cannot read",
        ("replay", bundle, "--trust", garbage): "the public key does not load",
        ("replay", bundle, "--trust", private): "neither a public key nor a certificate",
        # a run with a key that cannot sign stops before any rig is brought up
        ("run", "--sign", public, "--reports", tmp_path / "r"): "holds no private key",
        ("run", "--sign", rsa_key, "--reports", tmp_path / "r"): "cannot sign bundles",
        ("run", "--sign", private, "--sign-cert", other, "--reports", tmp_path / "r"): "not for the private key",
        ("run", "--sign-cert", other, "--reports", tmp_path / "r"): "--sign-cert needs --sign",
    }
    for args, words in attempts.items():
        done = _cli(*args, cwd=tmp_path)
        assert done.returncode == 2, (args, done.stderr)
        assert done.stdout == "" and done.stderr.count("\n") == 1 and words in done.stderr, (args, done.stderr)
    assert not (tmp_path / "r").exists()


def test_openssl_verifies_the_envelope_without_the_harness(signed: Path, keys: tuple[Path, Path],
                                                           tmp_path: Path) -> None:
    """What the README tells an approval body to do: DSSE's PAE by hand, then openssl on the Ed25519 signature."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    envelope = json.loads((signed / ENVELOPE).read_text(encoding="utf-8"))
    payload = base64.b64decode(envelope["payload"])
    kind = envelope["payloadType"].encode()
    pae = b"DSSEv1 " + str(len(kind)).encode() + b" " + kind + b" " + str(len(payload)).encode() + b" " + payload
    (tmp_path / "pae.bin").write_bytes(pae)
    (tmp_path / "sig.bin").write_bytes(base64.b64decode(envelope["signatures"][0]["sig"]))
    command = ["openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(keys[1]), "-rawin",
               "-in", str(tmp_path / "pae.bin"), "-sigfile", str(tmp_path / "sig.bin")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0 and "Signature Verified Successfully" in done.stdout, done.stdout + done.stderr
    assert json.loads(payload)["subject"][0]["digest"]["sha256"] == hashlib.sha256(
        (signed / MANIFEST).read_bytes()).hexdigest()
    (tmp_path / "pae.bin").write_bytes(pae.replace(b'"pass"', b'"fail"', 1))
    assert subprocess.run(command, capture_output=True, check=False).returncode != 0

