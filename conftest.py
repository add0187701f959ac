"""The repository's own suite configuration: `pytest suites/...` in a checkout runs like `harness run`.

The plugin (entry point `pytest11`) already gives the fixtures and the defaults (rigs/virtual.toml, profile
cn); this adds what `harness run` passes on its command line: the reports directory, so the run record, the
HTML report and the matrix land beside the evidence, and one hypothesis seed for the whole run, recorded in
the run record so `harness run --seed` draws the same scenarios again. `harness run` (which passes both) and
the harness's own tests (`pytest tests`) are left as they are."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

SUITES = Path(__file__).resolve().parent / "suites"
RUN_SEED = "harness_run_seed"  # how a pytest-xdist worker learns the controller's seed


def _suites_only(config: pytest.Config) -> bool:
    """Whether every path the run was given lies in suites/ (a selection of the harness's own tests does not)."""
    start = config.invocation_params.dir
    paths = [(start / str(arg).split("::", 1)[0]).resolve() for arg in config.args]
    return bool(paths) and all(path.is_relative_to(SUITES) for path in paths)


@pytest.hookimpl(tryfirst=True)  # before the plugin and hypothesis read the options
def pytest_configure(config: pytest.Config) -> None:
    if not _suites_only(config):
        return
    if config.getoption("--harness-reports", None) is None:
        config.option.harness_reports = str(config.rootpath / "reports")
    if config.getoption("--hypothesis-seed", None) is None:
        shared = getattr(config, "workerinput", {}).get(RUN_SEED)
        config.option.hypothesis_seed = shared or str(secrets.randbelow(2**32))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:  # an xdist WorkerController
    """Under `pytest -n N suites/` every worker draws with the controller's seed, so the run has one."""
    seed = node.config.getoption("--hypothesis-seed", None)
    if seed is not None:
        node.workerinput[RUN_SEED] = str(seed)
