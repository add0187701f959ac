"""The evidence bundle of a real `harness run`: what it holds, that `harness replay` re-judges it offline
from another directory to the same verdicts and byte-identical findings, that one flipped byte
anywhere is refused, and that `--compare` / `harness diff` tell what changed between runs."""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import pytest

from harness.report.bundle import BundleSources, write_bundle
from harness.report.judgment import findings_json
from harness.report.keys import load_trusted, write_key_pair
from harness.report.manifest import ENVELOPE, MANIFEST, SUMS, BundleError, file_digest, verify
from harness.report.replay import ReplayedTest, replay
from harness.vecu.defects import load_catalogue
from tests.harness_runner import ROOT, RunResult, harness_run

PREFERRED_DEFECT = "location-to-overseas"


@pytest.fixture(scope="module")
def lab_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The lab's signing key (private, public)."""
    private, public, _ = write_key_pair(tmp_path_factory.mktemp("keys") / "lab.key")
    return private, public


@pytest.fixture(scope="module")
def defect_run(compliant_run: RunResult, lab_key: tuple[Path, Path],
               tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """The tests of one rule against a vECU with that rule's defect: fail verdicts to replay, a comparison
    with the compliant run's bundle, and a bundle signed with the lab's key."""
    passing = {rule for t in compliant_run.results["tests"] if t["verdict"] == "pass" for rule in t["rules"]}
    candidates = sorted((d for d in load_catalogue().values() if d.rule in passing),
                        key=lambda d: (d.name != PREFERRED_DEFECT, d.name))
    assert candidates, "no seeded defect whose rule has a passing suite test"
    defect = candidates[0]
    return harness_run(tmp_path_factory.mktemp("defect"), "--vecu-defect", defect.name, "--rule", defect.rule,
                       "--archive", "--seed", "4242", "--compare", str(compliant_run.reports / "bundle"),
                       "--sign", str(lab_key[0]))


def _cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_bundle_holds_evidence_configuration_versions_and_a_manifest(compliant_run: RunResult) -> None:
    bundle = compliant_run.reports / "bundle"
    checked = verify(bundle)
    manifest = checked.manifest
    assert manifest["personal_data"]["may_contain"] is True and manifest["personal_data"]["notice"]
    for role in ("rig", "profile", "netmap", "dbc", "signal_mapping"):
        assert checked.config(role).is_file(), role
    files = manifest["files"]
    for test in compliant_run.results["tests"]:
        folder = Path(test["evidence"]["capture"]).parent.as_posix()
        for name in ("capture.pcapng", "scenario.jsonl", "can.log"):
            assert files[f"{folder}/{name}"]["personal_data"] is True, (folder, name)
        live = compliant_run.reports / folder / "capture.pcapng"
        assert files[f"{folder}/capture.pcapng"]["sha256"] == file_digest(live)
    assert files["config/vehicle.dbc"]["personal_data"] is False
    versions = json.loads((bundle / "versions.json").read_text(encoding="utf-8"))
    assert versions["harness"] and versions["packages"]["cantools"] and versions["tools"]["dumpcap"]
    # the bundle checks out with the standard tool too, without the harness
    if shutil.which("sha256sum"):
        done = subprocess.run(["sha256sum", "--check", "--quiet", SUMS], cwd=bundle, capture_output=True, check=False)
        assert done.returncode == 0, done.stdout + done.stderr


def _replayed(run: RunResult, bundle: Path, workdir: Path) -> dict[str, Any]:
    done = _cli("replay", str(bundle), "--json", cwd=workdir)
    assert done.returncode == run.status, done.stderr
    return dict(json.loads(done.stdout))


def test_replay_elsewhere_reproduces_every_verdict_and_finding_byte_for_byte(
        compliant_run: RunResult, defect_run: RunResult, tmp_path: Path) -> None:
    assert {t["verdict"] for t in defect_run.results["tests"]} == {"fail"}, defect_run.stdout[-2000:]
    for run in (compliant_run, defect_run):
        copy = tmp_path / run.reports.name / "handed-over"
        shutil.copytree(run.reports / "bundle", copy)
        replayed = _replayed(run, copy, tmp_path)
        live = run.results["tests"]  # the live run's own record, not the bundle's copy of it
        assert [t["nodeid"] for t in replayed["tests"]] == [t["nodeid"] for t in live]
        for was, now in zip(live, replayed["tests"], strict=True):
            assert now["verdict"] == was["verdict"], (was["name"], now["reason"])
            assert findings_json(now["findings"]) == findings_json(was["findings"]), was["name"]
            assert now["findings"] and now["reproduced"] is True
        assert replayed["reproduced"] is True and replayed["verdict"] == run.results["verdict"]


def _world_traversable(path: Path) -> bool:
    """Whether any user can reach `path` (every ancestor searchable by others)."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


def _remove_public(public: Path, mount_points: list[Path]) -> None:
    # the mounts lived in the replay's own namespace; a mount point that is not empty here would mean
    # the checkout itself is mounted on it, and removing it would delete the checkout
    for point in mount_points:
        if point.is_dir() and (os.path.ismount(point) or any(point.iterdir())):
            raise AssertionError(f"{point} is still a mount of the checkout; not removing {public}")
    shutil.rmtree(public, ignore_errors=True)


def test_replay_needs_no_network_and_no_root(compliant_run: RunResult) -> None:
    """Replay in a network namespace with no usable interface, as an unprivileged user.

    The checkout (and its .venv) may sit under a directory only root can enter (root's home, a
    `mktemp -d` directory), so the unprivileged user reaches it through a read-only bind mount at a
    world-readable place, in a mount namespace of its own that ends with the replay."""
    if not (shutil.which("unshare") and shutil.which("setpriv") and shutil.which("mount")):
        pytest.skip("unshare/setpriv/mount (util-linux) are not installed")
    base = next((Path(d) for d in (os.environ.get("TMPDIR"), "/tmp", "/var/tmp", "/dev/shm")
                 if d and Path(d).is_dir() and _world_traversable(Path(d))), None)
    assert base is not None, "no world-readable temporary directory (tried $TMPDIR, /tmp, /var/tmp, /dev/shm)"
    public = Path(tempfile.mkdtemp(prefix="harness-replay-", dir=base))
    # the code and the interpreter's environment as the unprivileged user sees them
    binds = {ROOT: public / "src"}
    prefix = Path(sys.prefix).resolve()
    if prefix != Path(sys.base_prefix).resolve() and not prefix.is_relative_to(ROOT):
        binds[prefix] = public / "venv"
    python = Path(sys.executable)
    for source, target in binds.items():
        if python.is_relative_to(source):
            python = target / python.relative_to(source)
    mounts = " && ".join(f'mount --bind -o ro "${2 * i + 1}" "${2 * i + 2}"' for i in range(len(binds)))
    try:
        shutil.copytree(compliant_run.reports / "bundle", public / "bundle")
        for target in binds.values():
            target.mkdir()
        for path in [public, *public.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        done = subprocess.run(
            ["unshare", "--mount", "--net", "sh", "-c", f'{mounts} && shift {2 * len(binds)} && exec "$@"', "sh",
             *(str(p) for pair in binds.items() for p in pair),
             "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             str(python), "-m", "harness.cli", "replay", str(public / "bundle")],
            cwd=public, capture_output=True, text=True, timeout=120, check=False,
            env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(public / "src"), "HOME": str(public),
                 "PYTHONDONTWRITEBYTECODE": "1"})
    finally:
        _remove_public(public, list(binds.values()))
    assert done.returncode == 0, done.stderr
    assert f"{len(compliant_run.results['tests'])} of {len(compliant_run.results['tests'])} tests reproduce" \
        in done.stdout


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def test_one_flipped_byte_anywhere_is_refused(compliant_run: RunResult, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(compliant_run.reports / "bundle", bundle)
    files = sorted(p for p in bundle.rglob("*") if p.is_file())
    rng = random.Random(20261125)
    evidence = [p for p in files if p.relative_to(bundle).parts[0] == "evidence"]
    # every file outside evidence/, and a sample of the evidence files (a full run has many)
    targets = [p for p in files if p not in evidence] + rng.sample(evidence, min(len(evidence), 24))
    assert any(p.name == MANIFEST for p in targets) and any(p.name == SUMS for p in targets)
    for path in targets:
        size = path.stat().st_size
        if size == 0:  # an empty log: one byte more is the smallest change
            path.write_bytes(b"\0")
            with pytest.raises(BundleError):
                verify(bundle)
            path.write_bytes(b"")
            continue
        for offset in {0, size - 1, rng.randrange(size)}:
            _flip(path, offset)
            with pytest.raises(BundleError):
                verify(bundle)
            _flip(path, offset)
    verify(bundle)  # restored: accepted again
    # a missing file and an added one are refused too
    victim = evidence[0]
    saved = victim.read_bytes()
    victim.unlink()
    with pytest.raises(BundleError, match="incomplete"):
        verify(bundle)
    victim.write_bytes(saved)
    (bundle / "evidence" / "planted.pcapng").write_bytes(b"x")
    with pytest.raises(BundleError, match="does not list"):
        verify(bundle)
    (bundle / "evidence" / "planted.pcapng").unlink()
    # through the command: one clear line, non-zero exit, no verdicts printed
    capture = bundle / compliant_run.results["tests"][0]["evidence"]["capture"]
    _flip(capture, capture.stat().st_size // 2)
    done = _cli("replay", str(bundle), cwd=tmp_path)
    assert done.returncode == 4 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "capture.pcapng does not match the manifest" in done.stderr
    assert "Traceback" not in done.stderr


def test_archive_replays_and_a_damaged_archive_is_refused(defect_run: RunResult, tmp_path: Path) -> None:
    archive = defect_run.reports / "bundle.tar.gz"
    result = replay(archive)
    assert not result.differences, _explain(result.differences)
    assert result.verdict.value == "fail"
    damaged = tmp_path / "damaged.tar.gz"
    damaged.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises(BundleError):
        replay(damaged)


def test_signed_run_archive_replays_only_with_the_lab_key(defect_run: RunResult, lab_key: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    """`harness run --sign` signs the bundle and its archive; `replay --trust` checks the lab's key first."""
    archive = defect_run.reports / "bundle.tar.gz"
    assert f"harness: bundle signed by key {load_trusted(lab_key[1]).keyid[:16]}: " in defect_run.stdout
    with tarfile.open(archive) as tar:
        assert f"bundle/{ENVELOPE}" in tar.getnames()
    done = _cli("replay", str(archive), "--trust", str(lab_key[1]), cwd=tmp_path)
    assert done.returncode == defect_run.status == 1, done.stderr
    assert "signed by lab.key.pub (key " in done.stdout and "signature verified" in done.stdout
    _, other = write_key_pair(tmp_path / "other.key")[:2]
    done = _cli("replay", str(archive), "--trust", str(other), cwd=tmp_path)
    assert done.returncode == 4 and done.stdout == "" and "signed by another key" in done.stderr


def _explain(differences: list[ReplayedTest]) -> str:
    lines = []
    for test in differences:
        lines.append(f"{test.name}: replayed {test.verdict.value}, recorded {test.recorded_verdict}")
        replayed, recorded = json.loads(findings_json(test.findings)), json.loads(findings_json(test.recorded_findings))
        lines += [f"  live   {b}\n  replay {a}" for a, b in zip(replayed, recorded, strict=False) if a != b]
        lines.append(f"  {len(replayed)} findings replayed, {len(recorded)} recorded")
    return "\n".join(lines)


def test_hypothesis_seed_of_the_run_is_in_the_bundle(defect_run: RunResult) -> None:
    manifest = json.loads((defect_run.reports / "bundle" / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["run"]["hypothesis_seed"] == "4242"
    assert defect_run.results["hypothesis_seed"] == "4242"


def test_a_test_that_errored_before_judging_replays_as_that_error(compliant_run: RunResult, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    shutil.copytree(compliant_run.reports / "evidence", reports / "evidence")
    run = compliant_run.results
    broken = dict(run["tests"][0], nodeid="suites/x/test_y.py::test_broken", name="test_broken", verdict="error",
                  reason="setup: the ECU sent no OtaStatus on CAN within 10 s", findings=[], checks=[])
    run = dict(run, tests=[run["tests"][0], broken], verdict="error")
    (reports / "results.json").write_text(json.dumps(run), encoding="utf-8")
    rig = ROOT / "rigs" / "virtual.toml"
    sources = BundleSources(rig, ROOT / "harness" / "policy" / "profiles" / f"{run['profile']}.toml",
                            ROOT / "dbc" / "vehicle.dbc", ROOT / "dbc" / "vehicle.signals.toml")
    result = replay(write_bundle(reports, tmp_path / "bundle", sources))
    first, second = result.tests
    assert first.reproduced and first.verdict.value == run["tests"][0]["verdict"]
    assert second.verdict.value == "error" and second.reason == broken["reason"] and second.reproduced
    assert result.verdict.value == "error"


def test_a_key_log_noted_as_garbled_replays_inconclusive_with_its_reason(compliant_run: RunResult,
                                                                          tmp_path: Path) -> None:
    """A bench test whose key log came back garbled: its note travels with the bundle and replay keeps the
    TLS sessions it left shut from a pass, as the live run did."""
    reports = tmp_path / "reports"
    shutil.copytree(compliant_run.reports / "evidence", reports / "evidence")
    run = compliant_run.results
    with_tls = next(t for t in run["tests"] if t["verdict"] == "pass" and (t.get("evidence") or {}).get("keylog")
                    and t["family"] == "locality")
    evidence = dict(with_tls["evidence"])
    keylog = reports / evidence.pop("keylog")
    keylog.write_text("not an NSS key log\n", encoding="ascii")
    note = keylog.parent / "keylog-problem.txt"
    problem = "key log `ssh eng-build cat /var/log/sslkeys` is garbled: none of its 1 line is an NSS key-log line"
    note.write_text(problem + "\n", encoding="utf-8")
    evidence["keylog_problem"] = str(note.relative_to(reports))
    run = dict(run, tests=[dict(with_tls, evidence=evidence)])
    (reports / "results.json").write_text(json.dumps(run), encoding="utf-8")
    sources = BundleSources(ROOT / "rigs" / "virtual.toml",
                            ROOT / "harness" / "policy" / "profiles" / f"{run['profile']}.toml",
                            ROOT / "dbc" / "vehicle.dbc", ROOT / "dbc" / "vehicle.signals.toml")
    [test] = replay(write_bundle(reports, tmp_path / "bundle", sources)).tests
    assert test.verdict.value == "inconclusive" and not test.reproduced, test.reason
    assert any(f.detail.startswith("capture incomplete: ") and f.detail.endswith(problem) for f in test.findings)


def test_compare_after_the_run_lists_the_new_fails(compliant_run: RunResult, defect_run: RunResult) -> None:
    comparison = json.loads((defect_run.reports / "compare.json").read_text(encoding="utf-8"))
    before = {t["nodeid"]: t["verdict"] for t in compliant_run.results["tests"]}
    failing = {t["nodeid"] for t in defect_run.results["tests"] if t["verdict"] == "fail"}
    assert failing and {c["nodeid"] for c in comparison["new_fail"]} == {n for n in failing if before[n] != "fail"}
    assert comparison["regressed"] is True and not comparison["fixed"]
    others = set(before) - {t["nodeid"] for t in defect_run.results["tests"]}
    assert {c["nodeid"] for c in comparison["removed"]} == others  # only one rule was run
    assert f"new fails: {len(comparison['new_fail'])}" in defect_run.stdout


def test_diff_command_reports_fixed_and_exit_status(compliant_run: RunResult, defect_run: RunResult,
                                                    tmp_path: Path) -> None:
    done = _cli("diff", str(defect_run.reports / "bundle.tar.gz"), str(compliant_run.reports / "bundle"), "--json",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # going from the defect to the compliant vECU fixes, never regresses
    result = json.loads(done.stdout)
    now = {t["nodeid"]: t["verdict"] for t in compliant_run.results["tests"]}
    assert {c["nodeid"] for c in result["fixed"]} == {t["nodeid"] for t in defect_run.results["tests"]
                                                      if t["verdict"] != "pass" and now[t["nodeid"]] == "pass"}
    done = _cli("diff", str(compliant_run.reports / "bundle"), str(defect_run.reports / "results.json"), cwd=tmp_path)
    assert done.returncode == 1 and "new fails: " in done.stdout


def test_run_shows_progress_per_suite_and_the_summary_table(compliant_run: RunResult) -> None:
    tests = compliant_run.results["tests"]
    families = {t["family"] for t in tests}
    for family in families:
        total = sum(1 for t in tests if t["family"] == family)
        assert f"{family} [{'#' * 20}] {total}/{total}" in compliant_run.stdout, family
    assert f"| run {len(tests)}/{len(tests)}" in compliant_run.stdout
    assert f"{len(tests)} tests: {len(tests)} pass, 0 fail, 0 inconclusive, 0 error -> PASS" in compliant_run.stdout
