"""Mutation score of the vECU's decision code against the suites that judge it: cosmic-ray mutates
the OTA client's preconditions and drive inhibit and the UDS server's session rule, one mutant at a
time, and `harness run` of the OTA safety and diagnostic tests must fail on each.

Prints the kill rate and every surviving mutant (its diff): a survivor is either equivalent to the
original or names a condition no test can tell apart. It mutates a copy of the committed tree,
never the checkout; it runs long (tens of seconds per mutant) and is not part of CI. As root:
    .venv/bin/python bench/mutation.py [--limit N] [--keyword EXPR] [--json]"""
from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cosmic_ray.work_db import WorkDB, use_db  # noqa: E402
from cosmic_ray.work_item import TestOutcome, WorkerOutcome, WorkResult  # noqa: E402

from harness.vecu.defects import load_catalogue  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# the decision code: where a condition of an OTA or diagnostic rule is taken
TARGETS = {
    "harness/vecu/ota_client.py": ("unsafe_reason", "OtaClient._inhibit", "OtaClient._on_waitingsafestate"),
    "harness/vecu/uds_server.py": ("UdsServer._may_program",),
}
RULES = ("ota.safe-state", "ota.drive-inhibit", "ota.diagnostic-session-safety")
# the stateful exploration judges safe states too, but at random: the tests that prove each condition
KEYWORD = "not update_sequences"
SEED = 20260101


def decision_lines(source: Path, names: tuple[str, ...]) -> set[int]:
    """The line numbers of the named functions (`Class.method` or `function`)."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    lines: set[int] = set()

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef) and f"{prefix}{child.name}" in names:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))

    visit(tree, "")
    return lines


def annotations(source: Path) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """Where type annotations are: a mutant there changes nothing that runs (postponed evaluation)."""
    spans = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        notes = [node.returns] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.arg | ast.AnnAssign):
            notes.append(node.annotation)
        spans += [((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)) for n in notes if n]
    return spans


def test_command(keyword: str, reports: Path) -> str:
    rules = " ".join(f"--rule {r}" for r in RULES)
    return (f"{shlex.quote(sys.executable)} -m harness.cli run {rules} -k {shlex.quote(keyword)} --seed {SEED} "
            f"--no-allure-report --reports {shlex.quote(str(reports))}")


def prepare(work: Path, keyword: str, timeout: float) -> tuple[Path, Path, Path]:
    """The committed tree in `work/src`, a cosmic-ray config and an initialised session."""
    src = work / "src"
    src.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    config, session = work / "cosmic-ray.toml", work / "session.sqlite"
    modules = ", ".join(json.dumps(path) for path in TARGETS)
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = [{modules}]\n"
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command(keyword, work / 'reports'))}\n"
        "[cosmic-ray.distributor]\nname = \"local\"\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "cosmic_ray.cli", "init", str(config), str(session)], cwd=src,
                   check=True, capture_output=True)
    return src, config, session


def keep_decisions(src: Path, session: Path, limit: int | None) -> int:
    """Skip every mutant outside the decision code (and beyond `limit`, drawn at random); the number kept."""
    lines = {path: decision_lines(src / path, names) for path, names in TARGETS.items()}
    notes = {path: annotations(src / path) for path in TARGETS}
    with use_db(str(session), WorkDB.Mode.open) as db:
        kept, skipped = [], []
        for item in db.work_items:
            mutation = item.mutations[0]
            target = next((t for t in TARGETS if str(mutation.module_path).endswith(t)), None)
            position = tuple(mutation.start_pos)
            inside = target is not None and position[0] in lines[target] and not any(
                begin <= position < end for begin, end in notes[target])
            (kept if inside else skipped).append(item.job_id)
        if limit is not None and len(kept) > limit:
            random.Random(SEED).shuffle(kept)
            skipped += kept[limit:]
            kept = kept[:limit]
        for job in skipped:
            db.set_result(job, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
    return len(kept)


def results(session: Path) -> dict[str, Any]:
    killed, survived, incompetent = 0, [], 0
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            if result.test_outcome == TestOutcome.KILLED:
                killed += 1
            elif result.test_outcome == TestOutcome.SURVIVED:
                mutation = item.mutations[0]
                survived.append({"module": Path(mutation.module_path).name, "line": mutation.start_pos[0],
                                 "operator": mutation.operator_name, "diff": result.diff or "",
                                 "hint": _hint(result.diff or "")})
            else:
                incompetent += 1
    judged = killed + len(survived)
    return {"killed": killed, "survived": len(survived), "incompetent": incompetent,
            "kill_rate": round(killed / judged, 3) if judged else None, "survivors": survived}


def _hint(diff: str) -> str:
    """Why a survivor may be equivalent: it changes only what a seeded defect does."""
    changed = " ".join(line for line in diff.splitlines() if line.startswith(("-", "+")))
    named = sorted(name for name in load_catalogue() if f'"{name}"' in changed)
    return (f"on a line that selects seeded defect {', '.join(named)}: if the change is in that defect's branch, "
            "only the defect behaves differently (its self-validation run tells)") if named else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="mutants to run at most, drawn at random")
    parser.add_argument("--keyword", default=KEYWORD, help=f"pytest -k of the suite tests run (default {KEYWORD!r})")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds a test run may take per mutant")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    os.environ.setdefault("HARNESS_RIG_TAG", "mut")  # namespaces of its own, beside other runs
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-mutation-") as tmp:
        src, config, session = prepare(Path(tmp), args.keyword, args.timeout)
        # the unmutated code must pass, or every mutant would count as killed
        baseline = subprocess.run(shlex.split(test_command(args.keyword, Path(tmp) / "baseline")), cwd=src,
                                  capture_output=True, text=True, check=False)
        if baseline.returncode != 0:
            print(f"bench: the unmutated suite does not pass (exit {baseline.returncode}); no score\n"
                  f"{baseline.stdout[-2000:]}", file=sys.stderr)
            return 1
        kept = keep_decisions(src, session, args.limit)
        subprocess.run([sys.executable, "-m", "cosmic_ray.cli", "exec", str(config), str(session)], cwd=src,
                       check=True, capture_output=True)
        report = {"mutants": kept, **results(session), "wall_s": round(time.monotonic() - started, 1),
                  "test_command": test_command(args.keyword, Path("<reports>"))}
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 0
    print(f"{report['mutants']} mutants of the decision code: {report['killed']} killed, {report['survived']} "
          f"survived, {report['incompetent']} incompetent; kill rate {report['kill_rate']} "
          f"in {report['wall_s']:.0f} s")
    for survivor in report["survivors"]:
        print(f"\nSURVIVED {survivor['module']}:{survivor['line']} ({survivor['operator']})"
              + (f"\n  {survivor['hint']}" if survivor["hint"] else "") + f"\n{survivor['diff']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
