"""GB/T 32960 data units encrypted as the header says (0x03 AES-128, 0x02 RSA): sealed and opened with
the platform's key; without it, or with another key, a report stays undecodable (inconclusive abroad),
never read as an empty report; bad key files are one-line errors naming the file."""

from __future__ import annotations

import json
from datetime import datetime
from functools import cache
from pathlib import Path

import pytest
from scapy.packet import Raw

from harness.checks.national_platform import check_national_platform
from harness.cli import main
from harness.errors import ConfigError
from harness.findings import Verdict, overall
from harness.net import gbt32960
from harness.net.flows import FlowTable
from harness.net.gbt32960_crypto import (
    AES128,
    RSA,
    UnitKeys,
    decrypt_unit,
    encrypt_frame,
    load_unit_key,
    write_unit_key,
)
from harness.net.gbt32960_frames import iter_frames, looks_like_gbt32960
from harness.net.payloads import describe
from harness.rig.config import load_rig
from tests.capture_builder import CN_PLATFORM, EU_EXPORT, NETMAP, VEHICLE, VIN, CaptureBuilder
from tests.gbt_reports import full_report
from tests.harness_runner import ROOT
from tests.synthetic_evidence import Conversation, policy
from tests.synthetic_evidence import evidence as plain_evidence

WHEN = datetime(2026, 3, 1, 8, 0, 0)
AES_KEY = UnitKeys(aes=bytes(range(16)))
OTHER_AES = UnitKeys(aes=bytes(range(1, 17)))
EV_UNITS = [0x01, 0x02, 0x05, 0x06, 0x07]


@cache
def rsa_keys(seed: int = 0) -> UnitKeys:
    """RSA key pairs are slow to make: one per seed for the whole module."""
    import tempfile

    path = Path(tempfile.mkdtemp()) / f"platform-{seed}.pem"
    return load_unit_key(write_unit_key(path, RSA))


def report(**extra: object) -> bytes:
    return full_report(VIN, WHEN, **extra)


LOGIN = gbt32960.build_login(VIN, WHEN, 1, "89860012345678901234")


# -- sealing and opening ------------------------------------------------------------------------------------
@pytest.mark.parametrize("keys, encryption", [
    (AES_KEY, AES128), (UnitKeys(aes=bytes(range(16)), aes_mode="ecb"), AES128), (None, RSA)],
    ids=["aes128-cbc", "aes128-ecb", "rsa-oaep"])
def test_encrypted_report_round_trips_with_the_platform_key(keys: UnitKeys | None, encryption: int) -> None:
    keys = keys or rsa_keys()
    plain = report()
    sealed = encrypt_frame(plain, keys, encryption)
    assert sealed[21] == encryption and sealed[:21] == plain[:21]
    assert int.from_bytes(sealed[22:24], "big") == len(sealed) - 25  # length covers the ciphertext
    (piece,) = iter_frames(sealed)
    assert piece.bcc_ok and piece.complete and looks_like_gbt32960(sealed)
    assert plain[24:-1] not in sealed  # the data unit does not travel in clear
    opened = gbt32960.decode_frame(sealed, keys)
    assert opened.decrypted and not opened.encrypted and opened.encryption == encryption and opened.error is None
    clear = gbt32960.decode_frame(plain)
    assert (opened.location, opened.vehicle, opened.info_unit_types, opened.collection_time) == \
        (clear.location, clear.vehicle, clear.info_unit_types, clear.collection_time)


def test_cbc_sends_a_fresh_iv_first_so_equal_reports_differ_on_the_wire() -> None:
    first, second = (encrypt_frame(report(), AES_KEY, AES128) for _ in range(2))
    assert first[24:40] != second[24:40] and first[40:] != second[40:]
    assert decrypt_unit(AES_KEY, AES128, first[24:-1]) == report()[24:-1]


@pytest.mark.parametrize("keys, why", [
    (None, None), (OTHER_AES, "does not decrypt"), (UnitKeys(aes=bytes(range(16)), aes_mode="ecb"), "")],
    ids=["no-key", "wrong-key", "wrong-mode"])
def test_without_the_right_key_the_data_unit_stays_encrypted(keys: UnitKeys | None, why: str | None) -> None:
    decoded = gbt32960.decode_frame(encrypt_frame(report(), AES_KEY, AES128), keys)
    assert decoded.encrypted and not decoded.decrypted and decoded.location is None
    assert decoded.vin == VIN  # the header stays readable
    if why is None:
        assert decoded.error is None
    else:
        assert decoded.error is not None and "AES128" in decoded.error and why in decoded.error


def test_another_rsa_key_pair_does_not_open_the_unit() -> None:
    decoded = gbt32960.decode_frame(encrypt_frame(report(), rsa_keys(0), RSA), rsa_keys(1))
    assert decoded.encrypted and decoded.error is not None and "RSA" in decoded.error


# -- flows: undecodable, never empty --------------------------------------------------------------------
def _flow_payload(keys: UnitKeys | None, *frames: bytes):  # type: ignore[no-untyped-def]
    conversation = Conversation(CN_PLATFORM, 32960)
    for i, frame in enumerate(frames):
        conversation.send(1 + i, frame)
    table = FlowTable(unit_keys=keys)
    for packet in conversation.packets:
        table.add(packet)
    (flow,) = table.flows.values()
    return describe(flow)


def test_flow_with_the_key_carries_the_reports_categories_and_position() -> None:
    payload = _flow_payload(AES_KEY, encrypt_frame(LOGIN, AES_KEY, AES128), encrypt_frame(report(), AES_KEY, AES128))
    assert payload.decodable and payload.categories >= {"vin", "location", "vehicle_state"}
    assert any(m.location == (31.2304, 121.4737) for m in payload.items)
    assert "2 decrypted" in payload.detail


@pytest.mark.parametrize("keys", [None, OTHER_AES], ids=["no-key", "wrong-key"])
def test_flow_without_the_key_is_undecodable_not_empty(keys: UnitKeys | None) -> None:
    payload = _flow_payload(keys, encrypt_frame(report(), AES_KEY, AES128))
    assert not payload.decodable and payload.messages == 1
    assert "location" not in payload.categories and "encrypted (AES128)" in payload.detail


# -- national-platform scope judges the opened units ----------------------------------------------------
def _scope(keys: UnitKeys | None, *frames: bytes) -> list:  # type: ignore[type-arg]
    conversation = Conversation(CN_PLATFORM, 32960)
    for i, frame in enumerate((LOGIN, *frames)):
        conversation.send(1 + i, encrypt_frame(frame, AES_KEY, AES128))
    evidence = plain_evidence([conversation])
    evidence.flows = FlowTable(unit_keys=keys)
    for packet in conversation.packets:
        evidence.flows.add(packet)
    return check_national_platform(evidence, policy(), required_units=EV_UNITS)


def test_national_platform_scope_judges_decrypted_units() -> None:
    assert overall(_scope(AES_KEY, report(), report())) is Verdict.PASS
    custom = _scope(AES_KEY, report(extra_units=[Raw(b"\x80\x3e+8610000000000")]))
    assert overall(custom) is Verdict.FAIL
    assert any("custom information unit 0x80" in f.detail for f in custom if f.verdict is Verdict.FAIL)


def test_national_platform_scope_without_the_key_is_inconclusive() -> None:
    findings = _scope(None, report(extra_units=[Raw(b"\x80\x3e+8610000000000")]))
    assert Verdict.PASS not in {f.verdict for f in findings if "could not be read" in f.detail}
    assert any(f.verdict is Verdict.INCONCLUSIVE and "could not be read" in f.detail for f in findings)


# -- analyze: the key option ------------------------------------------------------------------------------
@pytest.fixture
def abroad(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A capture of AES-128 reports with positions to an export destination abroad, its netmap and key."""
    key = write_unit_key(tmp_path / "platform.key", AES128)
    keys = load_unit_key(key)
    capture = CaptureBuilder()
    conversation = capture.tcp((VEHICLE, 40001), (EU_EXPORT, 32960))
    for frame in (LOGIN, report()):
        conversation.send(True, encrypt_frame(frame, keys, AES128))
    conversation.close()
    netmap = tmp_path / "netmap.toml"
    netmap.write_text(NETMAP, encoding="utf-8")
    return capture.write(tmp_path / "c.pcapng"), netmap, key


def _analyze(capture: Path, netmap: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    status = main(["analyze", str(capture), "--profile", "cn", "--netmap", str(netmap), "--json", *extra])
    return status, json.loads(capsys.readouterr().out)


def test_analyze_with_the_key_finds_the_location_abroad(abroad: tuple[Path, Path, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    capture, netmap, key = abroad
    status, result = _analyze(capture, netmap, capsys, "--gbt32960-key", str(key))
    (finding,) = [f for f in result["findings"] if f["dst"] == f"{EU_EXPORT}:32960" and f["check"] == "locality"]
    assert (status, finding["verdict"]) == (1, "fail") and "location" in finding["categories"]


def test_analyze_without_the_key_is_inconclusive_abroad(abroad: tuple[Path, Path, Path],
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    capture, netmap, _ = abroad
    status, result = _analyze(capture, netmap, capsys)
    (finding,) = [f for f in result["findings"] if f["dst"] == f"{EU_EXPORT}:32960" and f["check"] == "locality"]
    assert (status, result["verdict"], finding["verdict"]) == (3, "inconclusive", "inconclusive")
    assert "encrypted (AES128)" in finding["detail"] and "location" not in finding["categories"]


@pytest.mark.parametrize("content, problem", [
    (None, "not found"),
    (b"\x89PNG\r\n\x1a\n\x00\xff", "neither hex text"),
    (b"not a key at all\n", "expected 32 hex digits"),
    (b"00112233445566778899aabbccddee\n", "has 15"),
    (b"-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n", "holds no private key"),
    (b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n", "not a PEM private key"),
], ids=["missing", "binary", "garbled", "wrong-length", "public-only", "bad-pem"])
def test_bad_key_file_is_one_line_naming_it_with_status_2(abroad: tuple[Path, Path, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str],
                                                          content: bytes | None, problem: str) -> None:
    capture, netmap, _ = abroad
    key = tmp_path / "given.key"
    if content is not None:
        key.write_bytes(content)
    status = main(["analyze", str(capture), "--profile", "cn", "--netmap", str(netmap), "--gbt32960-key", str(key)])
    err = capsys.readouterr().err.strip()
    assert status == 2 and len(err.splitlines()) == 1 and str(key) in err and problem in err
    assert "Traceback" not in err


# -- the rig file ---------------------------------------------------------------------------------------
def _rig(tmp_path: Path, table: str) -> Path:
    text = (ROOT / "rigs" / "virtual.toml").read_text(encoding="utf-8")
    text = text.replace('= "../dbc/', f'= "{ROOT}/dbc/')  # the rig's files, wherever the copy lives
    start = text.find("[gbt32960]")
    if start >= 0:  # replace the rig's own table with the one under test
        end = text.find("\n[", start + 1)
        text = text[:start] + text[end + 1:]
    path = tmp_path / "rig.toml"
    path.write_text(text + "\n" + table, encoding="utf-8")
    return path


def test_rig_declares_the_platform_encryption_and_key(tmp_path: Path) -> None:
    key = write_unit_key(tmp_path / "platform.hex", AES128)
    rig = load_rig(_rig(tmp_path, f'[gbt32960]\nencryption = "aes128"\nkey = "{key.name}"\n'))
    assert rig.gbt32960.encryption == AES128 and rig.gbt32960.key == key.resolve()
    assert load_rig(ROOT / "rigs" / "virtual.toml").gbt32960.encryption == AES128  # every run exercises it


@pytest.mark.parametrize("table, problem", [
    ('encryption = "des"', "must be one of none, rsa, aes128"),
    ('encryption = "aes128"\nkey = "absent.hex"', "absent.hex not found"),
    ('encryption = "aes128"\nkey = "short.hex"', "has 4"),
    ('encryption = "rsa"\nkey = "good.hex"', 'holds an AES-128 key, but encryption = "rsa"'),
    ('encryption = "none"\nkey = "short.hex"', "is for encrypted data units"),
], ids=["unknown-cipher", "missing-key", "wrong-length", "rsa-given-aes-key", "key-without-encryption"])
def test_bad_platform_key_in_a_rig_is_a_rig_error_naming_the_file(tmp_path: Path, table: str, problem: str) -> None:
    (tmp_path / "short.hex").write_text("00112233\n", encoding="ascii")
    write_unit_key(tmp_path / "good.hex", AES128)
    with pytest.raises(ConfigError) as caught:
        load_rig(_rig(tmp_path, f"[gbt32960]\n{table}\n"))
    message = str(caught.value)
    assert "rig.toml" in message and "[gbt32960]" in message and problem in message and "\n" not in message


# -- the vECU, the simulated platform and the bundle ------------------------------------------------------
def test_simulated_platform_opens_sealed_frames_and_answers_sealed() -> None:
    """On loopback: the platform answers an AES-128 report with a sealed answer, and a frame sealed with
    another key with nothing (it cannot read it)."""
    import socket

    from harness.scenarios.cloud import Gbt32960Platform, Received
    from harness.scenarios.servers import ThreadedServers

    servers = ThreadedServers(None)
    platform = servers.start(lambda: Gbt32960Platform(("127.0.0.1", 0), Received(), AES_KEY), "platform")
    try:
        with socket.create_connection(("127.0.0.1", platform.server_address[1]), timeout=5) as sock:
            sock.sendall(encrypt_frame(report(), OTHER_AES, AES128) + encrypt_frame(report(), AES_KEY, AES128))
            answer = b""
            while len(answer) < 25 or len(answer) < 25 + int.from_bytes(answer[22:24], "big"):
                answer += sock.recv(4096)
    finally:
        servers.close()
    assert answer[21] == AES128 and answer[3] == 0x01  # one answer, success, sealed
    opened = gbt32960.decode_frame(answer, AES_KEY)
    assert opened.decrypted and opened.collection_time == WHEN and opened.command == 0x02
    assert platform.received.gbt32960_frames == 2


def test_vecu_seals_with_the_key_the_rig_hands_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.errors import RigError
    from harness.rig.platform_encryption import KEY_ENV, PlatformEncryption
    from harness.vecu.telematics import own_key_seal, platform_seal

    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(RigError, match="no key"):
        platform_seal(PlatformEncryption(AES128))
    assert platform_seal(PlatformEncryption())(LOGIN) == LOGIN  # the platform wants plain frames
    monkeypatch.setenv(KEY_ENV, str(write_unit_key(tmp_path / "run.key", AES128)))
    sealed = platform_seal(PlatformEncryption(AES128))(LOGIN)
    assert gbt32960.decode_frame(sealed, load_unit_key(tmp_path / "run.key")).decrypted
    assert gbt32960.decode_frame(own_key_seal()(LOGIN), load_unit_key(tmp_path / "run.key")).encrypted


def test_the_bundle_flags_the_platform_key_as_secret_material(tmp_path: Path) -> None:
    from harness.report import bundle

    evidence = tmp_path / "evidence" / "one_test"
    evidence.mkdir(parents=True)
    write_unit_key(evidence / "gbt32960-key.txt", AES128)
    (evidence / "capture.pcapng").write_bytes(b"")
    bundle._write_manifest(tmp_path, {}, {}, set())
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["secret_material"]["files"] == ["evidence/one_test/gbt32960-key.txt"]
    assert "gbt32960-key.txt" in manifest["secret_material"]["notice"]
    assert manifest["files"]["evidence/one_test/capture.pcapng"]["secret_material"] is False


@pytest.mark.parametrize("encryption", [AES128, RSA], ids=["aes128", "rsa"])
def test_hostile_ciphertext_is_refused_as_undecryptable_never_raised(encryption: int) -> None:
    """Random data units (a fixed seed) of short lengths and around RSA block sizes: each is refused with
    UnitDecryptError (bad length, bad padding, or no plausible data unit), never another exception."""
    import random

    from harness.net.gbt32960_crypto import UnitDecryptError, decrypt_frame

    keys = AES_KEY.merged(rsa_keys())
    draw = random.Random(32960)
    for size in [*range(0, 40), 255, 256, 257, 511, 512]:
        body = draw.randbytes(size)
        head = b"##\x02\xfe" + VIN.encode() + bytes((encryption,)) + size.to_bytes(2, "big")
        frame = head + body + bytes((gbt32960.bcc(head[2:] + body),))
        with pytest.raises(UnitDecryptError):
            decrypt_frame(frame, keys)
        assert gbt32960.decode_frame(frame, keys).encrypted
