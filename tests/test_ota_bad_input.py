"""OTA bad input, end to end through `harness run`: malformed campaign metadata, an ECU that hangs
mid-update and a UDS timeout end in error or inconclusive with the reason, never pass, and the rig
is left clean."""

from __future__ import annotations

from pathlib import Path

from tests.harness_runner import ROOT, harness_run, leftover_namespaces


def test_ota_bad_input_is_never_a_pass(tmp_path: Path) -> None:
    run = harness_run(tmp_path, str(ROOT / "tests" / "data" / "ota_bad_input.py"))
    tests = {t["name"]: t for t in run.results["tests"]}
    assert set(tests) == {"test_malformed_campaign_metadata", "test_ecu_hangs_mid_update",
                          "test_uds_request_times_out"}, run.stdout[-2000:]
    malformed = tests["test_malformed_campaign_metadata"]
    assert malformed["verdict"] == "error" and "estimated_duration_min" in malformed["reason"]
    # a hung ECU is reported as such (silent on CAN) or through what it left undone
    hang = tests["test_ecu_hangs_mid_update"]
    assert hang["verdict"] in ("inconclusive", "error"), hang
    assert "stopped sending" in hang["reason"] or "not ended" in hang["reason"], hang["reason"]
    timeout = tests["test_uds_request_times_out"]
    assert timeout["verdict"] in ("inconclusive", "error"), timeout
    assert "stopped sending" in timeout["reason"] or "never answered" in timeout["reason"], timeout["reason"]
    assert run.status == 4  # the worst verdict, error
    assert "Traceback" not in run.stderr
    assert not leftover_namespaces(run)
