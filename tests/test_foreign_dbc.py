"""The suites through the signal mapping: the vECU and the harness both speak OEM-B's network
(tests/data/foreign), and each suite test gets the verdict it gets on dbc/vehicle.dbc, compliant and
with a seeded defect. The OEM-B run uses two parallel rigs, so it also shows `-n 2` giving the serial
run's verdicts.

Within the test budget these runs take one test of each kind of CAN traffic the suites read (positions
and consent switches, OTA states and owner actions, the multiplexed notice, limits in other units,
drive inhibit, an ECU power cycle); `bench/parallel_rigs.py --foreign` compares every suite test."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.harness_runner import RunResult, harness_run, leftover_namespaces

FOREIGN_RIG = str(Path(__file__).parent / "data" / "foreign" / "rig.toml")
# the notice's duration crosses a unit (OEM-B: seconds) and a multiplexed page on the way to the check
DEFECT, RULE = "notice-without-duration", "ota.notice"
SUBSET = " or ".join((
    "test_personal_data_stays_in_jurisdiction", "test_nothing_leaves_after_consent_is_withdrawn",
    "test_no_installation_before_owner_accepts", "test_notice_before_download_matches_campaign",
    "test_no_undisclosed_performance_change", "test_driving_inhibited_during_installation",
    "test_interrupted_installation_keeps_a_working_vehicle"))
SEED = "20260501"  # one hypothesis seed for both runs: suites that draw examples draw the same ones


def _both(tmp: pytest.TempPathFactory, reference: list[str], foreign: list[str]) -> tuple[RunResult, RunResult]:
    with ThreadPoolExecutor(2) as pool:
        common = ("--no-allure-report", "--seed", SEED)
        ours = pool.submit(harness_run, tmp.mktemp("reference"), *common, *reference)
        theirs = pool.submit(harness_run, tmp.mktemp("oem-b"), *common, "--rig", FOREIGN_RIG, *foreign)
        return ours.result(), theirs.result()


def _per_test(run: RunResult) -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """Each test's verdict and the (check, verdict) of its findings, which must not depend on the DBC."""
    return {t["nodeid"]: (t["verdict"], sorted((f["check"], f["verdict"]) for f in t["findings"]))
            for t in run.results["tests"]}


@pytest.fixture(scope="module")
def compliant(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunResult, RunResult]:
    return _both(tmp_path_factory, ["-k", SUBSET], ["-k", SUBSET, "-n", "2"])


def test_suites_give_the_same_verdicts_on_the_foreign_dbc(compliant: tuple[RunResult, RunResult]) -> None:
    reference, foreign = compliant
    ours, theirs = _per_test(reference), _per_test(foreign)
    assert list(theirs) == list(ours), "both runs hold the same tests, in the same order"
    families = {nodeid.split("/")[1] for nodeid in ours}
    assert len(ours) >= 5 and families == {"locality", "minimization", "ota"}, sorted(ours)
    different = {nodeid: (ours[nodeid], theirs[nodeid]) for nodeid in ours if ours[nodeid] != theirs[nodeid]}
    assert not different, different
    assert foreign.status == reference.status, foreign.stdout[-3000:]
    assert not leftover_namespaces(reference) and not leftover_namespaces(foreign)


def test_the_foreign_run_really_spoke_oem_b(compliant: tuple[RunResult, RunResult]) -> None:
    _, foreign = compliant
    assert foreign.results["rig"].endswith("foreign/rig.toml")
    test = foreign.results["tests"][0]
    can_log = (foreign.reports / test["evidence"]["can_log"]).read_text(encoding="ascii")
    # OEM-B's identifiers (TCU_UpdStatus 0x4E2, the extended GPS_Position 18FF0A17), none of the harness's own
    assert " 4E2#" in can_log and " 18FF0A17#" in can_log and " 3B2#" not in can_log
    assert "[gw0]" in foreign.stdout and "[gw1]" in foreign.stdout


def test_seeded_defect_fails_the_same_tests_on_the_foreign_dbc(tmp_path_factory: pytest.TempPathFactory) -> None:
    args = ["--vecu-defect", DEFECT, "--rule", RULE]
    reference, foreign = _both(tmp_path_factory, args, args)
    ours, theirs = _per_test(reference), _per_test(foreign)
    assert ours and theirs == ours
    assert {verdict for verdict, _ in ours.values()} == {"fail"}
    assert foreign.status == reference.status == 1
