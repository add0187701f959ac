"""Shared set-up for the harness's own tests."""

import os

import pytest

from tests.harness_runner import RunResult, harness_run

os.environ.setdefault("ALLURE_NO_ANALYTICS", "true")


@pytest.fixture(scope="session")
def compliant_run(tmp_path_factory: pytest.TempPathFactory) -> RunResult:
    """One full `harness run` against the compliant vECU, shared by every test that needs one
    (self-validation, the evidence bundle and replay, the reports), with the Allure report rendered."""
    return harness_run(tmp_path_factory.mktemp("compliant"), allure=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # under `-n 2 --dist loadgroup` every user of the shared compliant run goes to one worker,
    # so the full run happens once, not once per worker
    for item in items:
        if "compliant_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("compliant_run"))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # pytest exits 5 when a selection collects nothing; that is not a failure of the code under
    # test (CI still runs the whole tests/ tree, which always collects)
    if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK
