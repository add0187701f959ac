"""The pytest plugin: options, the `clause` marker, rig fixtures, and verdict reporting.

Hooks stay thin: fixtures own the rig's lifetimes and clean up in their finalizers; the run
record is written at the end of the session for the reports."""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.checks.bus import CHECK as BUS_CHECK
from harness.checks.bus import check_can_bus
from harness.checks.registry import name_of
from harness.diag.rig import RigDiagnostics
from harness.errors import HarnessError, RigError
from harness.findings import Finding, Verdict
from harness.net.evidence import Evidence, load_evidence_with
from harness.paths import default_rig
from harness.policy.policy import Policy
from harness.policy.profile import Profile, load_profile
from harness.report.judgment import canonical, conclude, json_params
from harness.report.progress import SuiteProgress
from harness.report.results import RunRecord, TestRecord, profile_clauses
from harness.rig.bench import BenchEcu
from harness.rig.config import Rig, load_rig
from harness.rig.session import Observation, RigSession
from harness.rig.vecu_process import VecuProcess
from harness.scenarios.explore import Explorer, parse_seed
from harness.scenarios.fastforward import FastForward
from harness.scenarios.hmi import OwnerScreen
from harness.scenarios.late_nodes import Withheld
from harness.scenarios.ota_backend import OtaBackend
from harness.scenarios.vehicle import Vehicle
from harness.truth.files import dump_truth
from harness.truth.model import declared_truth
from harness.vecu.defects import validate
from harness.verdicts import VerdictRaised

RECORD = pytest.StashKey[RunRecord]()
TEST = pytest.StashKey[TestRecord]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "vehicle conformance harness")
    group.addoption("--rig", default=None, help="rig file (default: rigs/virtual.toml)")
    group.addoption("--profile", default="cn", help="regulatory profile: cn or eu (default cn)")
    group.addoption("--vecu-defect", action="append", default=[], metavar="NAME",
                    help="seed a defect into the virtual ECU (repeatable)")
    group.addoption("--rule", action="append", default=[], metavar="RULE_ID",
                    help="only the conformance tests that verify this rule (repeatable)")
    group.addoption("--harness-reports", default=None, metavar="DIR",
                    help="write results.json, index.html and evidence/ under DIR")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "clause(*rule_ids): the rules (and so the clauses) a test verifies")
    config.addinivalue_line("markers", "withheld(*signals): the messages carrying these signals (none named: the "
                            "owner's privacy switches) stay off the bus from before the ECU starts until "
                            "the test calls withheld.release()")
    reports = config.getoption("--harness-reports")
    config.stash[RECORD] = RunRecord(
        profile=config.getoption("--profile"), rig=str(config.getoption("--rig") or default_rig()),
        vecu_defect=",".join(config.getoption("--vecu-defect")) or None)
    config._harness_reports = Path(reports) if reports else None  # type: ignore[attr-defined]
    _describe_run(config, config.stash[RECORD])
    _parallel(config)
    config.pluginmanager.register(_Progress(config), "harness-progress")


def _parallel(config: pytest.Config) -> None:
    """Under pytest-xdist, records are kept in the worker that ran the test and merged by the controller."""
    from harness import parallel

    if parallel.is_worker(config):
        config.pluginmanager.register(parallel.Sender(TEST), "harness-parallel-sender")
    elif parallel.is_controller(config):
        config.pluginmanager.register(parallel.Merger(config.stash[RECORD]), "harness-parallel-merger")


def _describe_run(config: pytest.Config, record: RunRecord) -> None:
    """What the record needs beyond the tests: the run's hypothesis seed and the profile's clauses."""
    seed = config.getoption("hypothesis_seed", None)
    record.hypothesis_seed = None if seed is None else str(seed)
    try:
        record.profile_clauses = profile_clauses(load_profile(config.getoption("--profile")))
    except HarnessError:
        pass  # the profile fixture reports the bad profile as the tests' error


def _reports_dir(config: pytest.Config) -> Path:
    return getattr(config, "_harness_reports", None) or Path(config.rootpath) / "reports"


# -- session fixtures ----------------------------------------------------------------------------
@pytest.fixture(scope="session")
def rig_config(pytestconfig: pytest.Config) -> Rig:
    return load_rig(pytestconfig.getoption("--rig") or default_rig())


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config) -> Profile:
    return load_profile(pytestconfig.getoption("--profile"))


@pytest.fixture(scope="session")
def vecu_defects(pytestconfig: pytest.Config) -> tuple[str, ...]:
    return validate(pytestconfig.getoption("--vecu-defect"))


@pytest.fixture(scope="session")
def rig(rig_config: Rig, pytestconfig: pytest.Config) -> Iterator[RigSession]:
    """The rig brought up for the session: namespaces, simulated cloud, the rest of the vehicle."""
    session = RigSession(rig_config, _reports_dir(pytestconfig) / "evidence")
    session.start()
    try:
        yield session
    finally:
        session.close()


# -- per-test fixtures -----------------------------------------------------------------------------
class Capture:
    """The test's observation; `evidence()` stops it and returns what the checks judge."""

    def __init__(self, rig: RigSession, observation: Observation, record: TestRecord, base: Path) -> None:
        self.rig, self.observation, self.record, self.base = rig, observation, record, base
        self._evidence: Evidence | None = None

    def evidence(self) -> Evidence:
        if self._evidence is None:
            result = self.observation.stop()
            # what the harness knows the vehicle holds, beside the capture, so replay searches for the same
            truth = declared_truth(self.rig.rig.vin, self.rig.rig.owner.strings())
            truth_file = result.capture.parent / "truth.toml"
            dump_truth(truth, truth_file)
            self.record.evidence = {
                "capture": _relative(result.capture, self.base), "can_log": _relative(result.can_log, self.base),
                "scenario_log": _relative(result.scenario_log, self.base), "truth": _relative(truth_file, self.base)}
            # the vehicle's TLS secrets, why a bench's may be missing, the GB/T 32960 platform's key:
            # without them its TLS flows and encrypted data units stay opaque
            files = {name: path for name, path in (("keylog", result.keylog), ("keylog_problem", result.keylog_problem),
                                                   ("gbt32960_key", result.unit_key)) if path is not None}
            self.record.evidence.update({name: _relative(path, self.base) for name, path in files.items()})
            self._evidence = load_evidence_with(result.capture, self.rig.codec, files, truth)
            self.record.capture_stats = {
                "packets": self._evidence.packets, "dropped": result.stats.dropped,
                "capture_reported": result.stats.reported, "can_frames": result.can_frames,
                "can_gaps": sum(self._evidence.can_gaps.values())}
        return self._evidence


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path)


def _test_dir(rig: RigSession, nodeid: str) -> Path:
    return rig.evidence_dir / re.sub(r"[^A-Za-z0-9_.-]+", "_", nodeid.replace("::", "__")).strip("_")


@pytest.fixture
def withheld(rig: RigSession, policy: Policy, request: pytest.FixtureRequest) -> Iterator[Withheld]:
    """A node of the vehicle that boots late: what the `withheld` marker names is held off the bus
    before the capture starts (so the recording shows it absent since the ECU's start) until
    `withheld.release()`, and released in any case when the test ends. Without the marker, nothing."""
    assert rig.tx is not None
    marker = request.node.get_closest_marker("withheld")
    signals = () if marker is None else tuple(marker.args) or tuple(s.signal for s in policy.netmap.consents)
    held = Withheld(rig.tx, rig.monitor, rig.scenario, signals)
    missing = held.not_sent()
    if missing:  # a node on the bench sends it: the situation cannot be brought about, nothing was observed
        record: TestRecord = request.node.stash.get(TEST, None) or _new_record(request.node, request.config)
        record.verdict, record.judged = Verdict.INCONCLUSIVE, True
        record.reason = (f"the harness does not send {', '.join(missing)} on this rig (another node does), so it "
                         "cannot hold it back: the test's situation was not brought about")
        raise VerdictRaised(record.verdict, record.reason, [])
    held.hold()
    try:
        yield held
    finally:
        held.release()


@pytest.fixture
def capture(rig: RigSession, withheld: Withheld, request: pytest.FixtureRequest) -> Iterator[Capture]:
    record = request.node.stash.get(TEST, None) or _new_record(request.node, request.config)
    observation = rig.observe(_test_dir(rig, request.node.nodeid))
    observation.start()
    handle = Capture(rig, observation, record, _reports_dir(request.config))
    try:
        yield handle
    finally:
        try:
            handle.evidence()
        except HarnessError:
            observation.abort()


@pytest.fixture
def vehicle(rig: RigSession) -> Vehicle:
    assert rig.tx is not None
    car = Vehicle(rig.tx, rig.clock, rig.scenario)
    car.reset()
    return car


@pytest.fixture
def hmi(rig: RigSession, fast_forward: FastForward) -> Iterator[OwnerScreen]:
    assert rig.tx is not None
    screen = OwnerScreen(rig.tx, rig.monitor, rig.clock, rig.scenario, fast_forward, notifier=rig.can_notifier)
    screen.reset()
    yield screen
    screen.close()


@pytest.fixture
def ota_backend(rig: RigSession) -> Iterator[OtaBackend]:
    rig.backend.clear()
    yield rig.backend
    rig.backend.clear()


@pytest.fixture
def fast_forward(rig: RigSession) -> FastForward:
    """fast_forward.run(vehicle_s) / .until(predicate, vehicle_s): vehicle time in jumps on a virtual rig."""
    return FastForward(rig.clock, rig.monitor, jumps=rig.rig.is_virtual, transfers=rig.backend.package_requests)


@pytest.fixture
def uds(rig: RigSession) -> RigDiagnostics:
    """The diagnostic tester: `with uds.over_can() as tester` (ISO-TP) or `uds.over_doip()`."""
    return RigDiagnostics(rig)


@pytest.fixture
def bus(rig: RigSession) -> RigSession:
    """The harness's side of the CAN bus: `bus.monitor` reads, `bus.tx` writes abstract signals."""
    return rig


@pytest.fixture
def vecu(rig: RigSession, capture: Capture, vehicle: Vehicle, hmi: OwnerScreen,
         vecu_defects: tuple[str, ...], request: pytest.FixtureRequest) -> Iterator[VecuProcess | BenchEcu]:
    """A fresh virtual ECU for this test, started after the capture so every session is seen whole."""
    process = rig.vecu(vecu_defects, _test_dir(rig, request.node.nodeid) / "vecu.log")
    process.start()
    try:
        rig.wait_ecu_alive()
        yield process
        if not process.alive():
            raise RigError(f"the vECU died during the test: {process.last_words()}")
    finally:
        process.stop()


@pytest.fixture(scope="session")
def policy(profile: Profile, rig_config: Rig) -> Policy:
    return Policy(profile, rig_config.netmap)


@pytest.fixture
def judge(request: pytest.FixtureRequest, capture: Capture, policy: Policy) -> Callable[..., Verdict]:
    """judge(check, **params): stop the capture, run the registered check on the evidence and the
    policy, and hand its findings to the report; anything but pass ends the test with that verdict.

    The check's name and parameters are recorded, so a replay can run the same judgment offline."""
    record: TestRecord = request.node.stash.get(TEST, None) or _new_record(request.node, request.config)
    results: list[Finding] = []

    def judge_findings(check: Callable[..., list[Finding]], **params: Any) -> Verdict:
        name = name_of(check)
        # the check gets its parameters as replay will read them back from the record: JSON values
        params = json_params(name, params)
        record.checks.append({"check": name, "params": params})
        evidence = capture.evidence()
        results.extend(check(evidence, policy, **params))
        if record.rules and not any(c["check"] == BUS_CHECK for c in record.checks):
            # whatever the test judged, a silent or broken bus means it did not observe it (recorded, so
            # replay judges the bus the same way)
            bus_params = {"rule_id": record.rules[0]}
            record.checks.append({"check": BUS_CHECK, "params": bus_params})
            results.extend(check_can_bus(evidence, policy, **bus_params))
        record.findings = canonical(results)
        record.judged = True
        verdict, record.reason = conclude(record.findings)
        if verdict is not Verdict.PASS and "hypothesis" in record.seeds:
            seed = record.seeds["hypothesis"]
            record.reason += f" (hypothesis seed {seed}: rerun with harness run --seed {seed})"
        record.verdict = verdict
        _attach(record, evidence, policy)
        if verdict is not Verdict.PASS:
            raise VerdictRaised(verdict, record.reason, record.findings)
        return verdict

    return judge_findings


def _attach(record: TestRecord, evidence: Evidence, policy: Policy) -> None:
    from harness.report.allure_results import attach_judgment
    from harness.report.timeline_svg import record_timeline

    attach_judgment(record, evidence, record_timeline(record, evidence, policy.netmap))


# -- records and outcomes ------------------------------------------------------------------------
def _new_record(item: pytest.Item, config: pytest.Config) -> TestRecord:
    rules = [str(arg) for mark in item.iter_markers("clause") for arg in mark.args]
    clauses: list[dict[str, str]] = []
    severities: list[str] = []
    try:
        prof = load_profile(config.getoption("--profile"))
        for rule in rules:
            clauses += [{"id": c.id, "title": c.title, "rule": rule} for c in prof.rule(rule).clauses]
            severities.append(prof.rule(rule).severity)
    except HarnessError:
        pass
    family = _family(item)
    doc = (getattr(item, "obj", None).__doc__ or "").strip() if getattr(item, "obj", None) else ""
    record = TestRecord(item.nodeid, item.name, " ".join(doc.split()), family, rules, clauses)
    item.stash[TEST] = record
    config.stash[RECORD].tests.append(record)
    from harness.report.allure_results import label

    label(rules, clauses, severities)
    return record


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = set(config.getoption("--rule"))
    if not wanted:
        return
    keep: list[pytest.Item] = []
    drop: list[pytest.Item] = []
    for item in items:
        rules = {str(arg) for mark in item.iter_markers("clause") for arg in mark.args}
        (keep if rules & wanted else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _family(item: pytest.Item) -> str:
    folder = Path(str(item.path)).parent.name
    return folder if folder not in ("suites", "tests") else "general"


class _Progress:
    """Per-suite progress lines after each conformance test (the -v line names the test itself).

    A plugin object, so its report hook can reach the run record."""

    def __init__(self, config: pytest.Config) -> None:
        self.config, self.progress = config, SuiteProgress({})

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        totals = Counter(_family(i) for i in session.items if i.get_closest_marker("clause") is not None)
        self.progress = SuiteProgress(dict(totals))

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        # a parallel run's controller collects nothing itself; the workers tell it what they collected
        if not self.progress.totals:
            folders = (Path(nodeid.split("::")[0]).parent.name for nodeid in ids)
            self.progress = SuiteProgress(dict(Counter(f if f not in ("suites", "tests") else "general"
                                                       for f in folders)))

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "teardown" or not self.progress.totals:
            return
        record = next((t for t in reversed(self.config.stash[RECORD].tests) if t.nodeid == report.nodeid), None)
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if record is not None and reporter is not None:
            reporter.write_line(self.progress.finished(record.family, record.verdict.value, record.duration_s))


def pytest_runtest_setup(item: pytest.Item) -> None:
    # conformance tests are the ones that name a clause; other tests are plain pytest tests
    if item.get_closest_marker("clause") is not None:
        _new_record(item, item.config)
        item.stash[TEST].duration_s = time.monotonic()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    record = item.stash.get(TEST, None)
    if record is None:
        return
    if call.when == "teardown":
        record.duration_s = time.monotonic() - record.duration_s
    if call.when == "call":
        record.seeds.update(_hypothesis_seed(item, record))
    if call.excinfo is not None and not isinstance(call.excinfo.value, VerdictRaised):
        if call.excinfo.errisinstance((pytest.skip.Exception,)):
            return
        # the test or its rig broke: whatever was judged, it cannot stand as a verdict
        message = str(call.excinfo.value).splitlines()[0] if str(call.excinfo.value) else call.excinfo.typename
        if not record.judged or call.when != "teardown" or record.verdict is Verdict.PASS:
            record.verdict, record.reason = Verdict.ERROR, f"{call.when}: {message}"
        if isinstance(call.excinfo.value, HarnessError):
            report.longrepr = f"ERROR ({call.when}): {message}"
    elif isinstance(call.excinfo.value if call.excinfo else None, VerdictRaised):
        report.longrepr = str(call.excinfo.value)  # type: ignore[union-attr]
    if call.when == "call" and report.passed and not record.judged:
        # a suite test that judged nothing must not pass
        report.outcome = "failed"
        report.longrepr = "ERROR: the test handed no findings to `judge`; it verified nothing"
        record.verdict, record.reason = Verdict.ERROR, "the test handed no findings to judge"


def _hypothesis_seed(item: pytest.Item, record: TestRecord) -> dict[str, str]:
    """The seed hypothesis drew this test's examples from, where the test uses hypothesis."""
    function = getattr(item, "obj", None)
    if not getattr(function, "is_hypothesis_test", False):
        return {}
    for attribute in ("_hypothesis_internal_use_seed", "_hypothesis_internal_use_generated_seed"):
        seed = getattr(function, attribute, None)
        if seed is not None:
            return {"hypothesis": str(seed)}
    run_seed = item.config.stash[RECORD].hypothesis_seed
    return {"hypothesis": run_seed} if run_seed is not None else {}


@pytest.fixture
def record_seed(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """record_seed(name, value): keep a seed the test drew its randomness from, for the evidence bundle."""
    record: TestRecord = request.node.stash.get(TEST, None) or _new_record(request.node, request.config)

    def keep(name: str, value: object) -> None:
        record.seeds[name] = str(value)

    return keep


@pytest.fixture
def explore(request: pytest.FixtureRequest, rig: RigSession,
            record_seed: Callable[[str, object], None]) -> Explorer:
    """explore.run(strategy, play, examples=N): play N scenarios hypothesis draws from `strategy` in this
    test's observation, with the run's seed (recorded, so `harness run --seed` replays them)."""
    seed = parse_seed(request.config.getoption("hypothesis_seed", None))
    record_seed("hypothesis", seed)
    return Explorer(seed, rig.scenario)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    reports = getattr(config, "_harness_reports", None)
    record = config.stash[RECORD]
    if hasattr(config, "workerinput"):
        return  # a parallel worker: the controller writes the reports from every worker's records
    merger = config.pluginmanager.get_plugin("harness-parallel-merger")
    if merger is not None:
        merger.sort()
    if reports is None or not record.tests:
        return
    from harness.report.html import write_html
    from harness.report.matrix import write_matrix

    data = record.write(reports / "results.json")
    write_html(data, reports / "index.html")
    write_matrix(data, reports)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    record = config.stash[RECORD]
    if not record.tests:
        return
    from harness.report.summary import summary_table

    terminalreporter.section("conformance verdicts")
    terminalreporter.write(summary_table(record.to_dict(), color=terminalreporter.hasmarkup) + "\n")
