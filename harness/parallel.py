"""Parallel runs (`harness run -n N`, pytest-xdist): each worker process brings up a virtual rig of its
own; its test records travel to the controller with the test reports and join one run record there.

Without this the controller's record would be empty (records are kept where the test ran), and the
reports would claim a run that judged nothing."""

from __future__ import annotations

import base64
import pickle
from pathlib import Path
from typing import Any

import pytest

from harness.findings import Verdict
from harness.report.results import RunRecord, TestRecord

PROPERTY = "harness-test-record"


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_controller(config: pytest.Config) -> bool:
    """The process that hands tests to workers (and writes the reports)."""
    option = getattr(config.option, "numprocesses", None)
    return not is_worker(config) and bool(option) and getattr(config.option, "dist", "no") != "no"


def attach(report: pytest.TestReport, record: TestRecord) -> None:
    """In a worker: send the finished record along with the test's last report."""
    # the record is the harness's own dataclass (findings, verdicts); pickle keeps every field of it
    try:
        data = pickle.dumps(record)
    except Exception as exc:  # noqa: BLE001 - a record that cannot travel must still not pass
        data = pickle.dumps(TestRecord(record.nodeid, record.name, record.doc, record.family, record.rules,
                                       record.clauses, Verdict.ERROR,
                                       f"the worker could not send this test's record: {exc}"))
    report.user_properties.append((PROPERTY, base64.b64encode(data).decode("ascii")))


class Sender:
    """In a worker: after the harness has settled a test's record (its own makereport wrapper runs
    inside this one), send it with the teardown report."""

    def __init__(self, key: pytest.StashKey[TestRecord]) -> None:
        self.key = key

    @pytest.hookimpl(hookwrapper=True, tryfirst=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        outcome = yield
        record = item.stash.get(self.key, None)
        if call.when == "teardown" and record is not None:
            attach(outcome.get_result(), record)


class Merger:
    """In the controller: collect the workers' records into the run record, in collection order."""

    def __init__(self, record: RunRecord) -> None:
        self.record = record
        self.order: dict[str, int] = {}

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        kept = []
        for name, value in report.user_properties:
            if name != PROPERTY:
                kept.append((name, value))
                continue
            record = pickle.loads(base64.b64decode(str(value)))  # noqa: S301 - written by our own workers
            if isinstance(record, TestRecord):
                self._add(record)
        # the record is in results.json; JUnit XML would otherwise carry it as a property
        report.user_properties[:] = kept

    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        if not self.order:
            self.order = {nodeid: i for i, nodeid in enumerate(ids)}

    def pytest_handlecrashitem(self, crashitem: str, report: pytest.TestReport, sched: Any) -> None:
        """A worker died in the middle of a test: that test has an error, not a missing entry."""
        if any(t.nodeid == crashitem for t in self.record.tests):
            return
        name = crashitem.rpartition("::")[2]
        family = Path(crashitem.split("::")[0]).parent.name or "general"
        self._add(TestRecord(crashitem, name, "", family, [], [], Verdict.ERROR,
                             "the worker process running this test crashed; nothing was judged"))

    def _add(self, record: TestRecord) -> None:
        self.record.tests[:] = [t for t in self.record.tests if t.nodeid != record.nodeid] + [record]

    def sort(self) -> None:
        """Workers finish in any order; the report lists tests as a serial run would."""
        last = len(self.order)
        self.record.tests.sort(key=lambda t: (self.order.get(t.nodeid, last), t.nodeid))
