"""Shared set-up for the harness's own tests."""

import os
from collections.abc import Iterator

import pytest

from tests.harness_runner import RunResult, harness_run

os.environ.setdefault("ALLURE_NO_ANALYTICS", "true")


@pytest.fixture(scope="session")
def compliant_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """One full `harness run` against the compliant vECU, shared by every test that needs one
    (self-validation, the evidence bundle and replay, the reports), with the Allure report rendered."""
    # every suite at once on a machine other runs share: more time than one rule's run gets
    return harness_run(tmp_path_factory.mktemp("compliant"), allure=True, timeout=900)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    # under `-n 2 --dist loadgroup` every user of the shared compliant run goes to one worker, so the
    # full run happens once, not once per worker; so do the users of a module's shared live runs
    for item in items:
        if "compliant_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("compliant_run"))
        elif not any(item.iter_markers("xdist_group")) and _shares_a_module_fixture(item):
            item.add_marker(pytest.mark.xdist_group(f"module-{item.module.__name__}"))  # type: ignore[attr-defined]
    yield
    if getattr(config.option, "loadgroup", False):
        for item in items:
            _group_in_node_id(item)


def _shares_a_module_fixture(item: pytest.Item) -> bool:
    info = getattr(item, "_fixtureinfo", None)
    return info is not None and any(defs and defs[-1].scope == "module" for defs in info.name2fixturedefs.values())


def _group_in_node_id(item: pytest.Item) -> None:
    """pytest-xdist tells the scheduler a test's group by a suffix on its node id, written where pytest 9.2
    no longer reads it (pytest-xdist issue 1386): without this every group is split across workers and
    each worker repeats the group's shared runs. A no-op where xdist's own suffix took effect."""
    names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                    for m in item.iter_markers("xdist_group")})
    suffix = f"@{'_'.join(names)}"
    if not names or item.nodeid.endswith(suffix) or not hasattr(item, "_id"):
        return
    from _pytest.nodeid import NodeId

    # the suffix goes after the parameters, where xdist's scheduler looks for it (`test[p]@group`)
    node = item._id
    params = f"[{node.params}]" if node.params is not None else ""
    item._id = NodeId(path=node.path, names=(*node.names[:-1], f"{node.names[-1]}{params}{suffix}"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # pytest exits 5 when a selection collects nothing; that is not a failure of the code under
    # test (CI still runs the whole tests/ tree, which always collects)
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK
