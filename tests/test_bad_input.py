"""Bad input and broken rigs: one clear line, a non-zero exit, an `error` verdict where a test
was affected, no traceback, and no namespace left behind."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.harness_runner import ROOT, harness_run, leftover_namespaces


def _rig_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = (ROOT / "rigs" / "virtual.toml").read_text(encoding="utf-8")
    assert old in text
    rig = tmp_path / "rig.toml"
    rig.write_text(text.replace(old, new).replace('"../dbc/', f'"{ROOT}/dbc/'), encoding="utf-8")
    return rig


def _one_line_error(stderr: str) -> str:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    return lines[0]


def test_unknown_defect_is_refused_before_anything_starts(tmp_path: Path) -> None:
    run = harness_run(tmp_path, "--vecu-defect", "no-such-defect")
    assert run.status == 2
    line = _one_line_error(run.stderr)
    assert "no-such-defect" in line and "location-to-overseas" in line
    assert not (tmp_path / "results.json").exists()


def test_missing_rig_file(tmp_path: Path) -> None:
    run = harness_run(tmp_path, "--rig", str(tmp_path / "absent.toml"))
    assert run.status == 2
    assert "absent.toml" in _one_line_error(run.stderr)


def test_malformed_rig_file_names_the_file(tmp_path: Path) -> None:
    rig = tmp_path / "broken.toml"
    rig.write_text("[rig\nkind = 'virtual'\n", encoding="utf-8")
    run = harness_run(tmp_path, "--rig", str(rig))
    assert run.status == 2
    assert "broken.toml" in _one_line_error(run.stderr)


def test_rig_with_bad_vin_names_the_key(tmp_path: Path) -> None:
    run = harness_run(tmp_path, "--rig", str(_rig_variant(tmp_path, 'vin = "LHVTEST0000000001"', 'vin = "SHORT"')))
    assert run.status == 2
    line = _one_line_error(run.stderr)
    assert "vin" in line and "17" in line


def test_dbc_that_does_not_load(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.dbc"
    garbage.write_text("BO_ this is not a DBC\n", encoding="utf-8")
    shutil.copy(ROOT / "dbc" / "vehicle.signals.toml", tmp_path / "vehicle.signals.toml")
    rig = _rig_variant(tmp_path, 'dbc = "../dbc/vehicle.dbc"', f'dbc = "{garbage}"')
    run = harness_run(tmp_path, "--rig", str(rig))
    assert run.status != 0
    assert "garbage.dbc" in run.stderr + run.stdout
    assert "Traceback" not in run.stderr
    assert not leftover_namespaces(run)


def test_unknown_profile(tmp_path: Path) -> None:
    run = harness_run(tmp_path, "--profile", "mars")
    assert run.status == 2
    assert "mars" in _one_line_error(run.stderr)


def test_capture_that_cannot_start_is_an_error_verdict(tmp_path: Path) -> None:
    # a PATH with iproute2 and nftables but without dumpcap: the capture cannot start
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("ip", "nft"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    run = harness_run(tmp_path, "--rule", "locality.regulated-data", env={"PATH": str(bin_dir)})
    assert run.status == 4, run.stdout[-2000:]
    verdicts = run.verdicts()
    assert verdicts and set(verdicts.values()) == {"error"}, verdicts
    assert "dumpcap" in run.results["tests"][0]["reason"]
    assert not leftover_namespaces(run)


def test_vecu_that_dies_mid_test_is_an_error_verdict(tmp_path: Path) -> None:
    run = harness_run(tmp_path, str(ROOT / "tests" / "data" / "vecu_dies.py"))
    assert run.status == 4, run.stdout[-2000:]
    test = run.results["tests"][0]
    assert test["verdict"] == "error"
    assert "vECU died" in test["reason"]
    assert not leftover_namespaces(run)
