"""Mutation score of the vECU's decision code against the suites that judge it: cosmic-ray mutates
each group of decisions (the OTA client's preconditions, drive inhibit and the UDS server's session
rule; the OTA client's notice, consent wait, rollback and result; the privacy switches and position
coarsening), one mutant at a time, and bench/mutation_check.py must fail on each: `harness run` of
the group's rules on the compliant vECU, then each seeded defect of those rules against the tests
that catch it (the self-validation), so a mutant of a defect's branch is judged too.

Prints the kill rate and every surviving mutant (its diff): a survivor is either equivalent to the
original or names a condition no test can tell apart. It mutates a copy of the committed tree,
never the checkout; it runs long (minutes per mutant) and is not part of CI. As root:
    .venv/bin/python bench/mutation.py [--group NAME] [--limit N] [--count] [--keyword EXPR] [--json]
        [--work DIR]    (keeps the sessions there; --work DIR --report prints what they hold so far)"""
from __future__ import annotations

import argparse
import ast
import contextlib
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

from bench.mutation_check import KEYWORD, RULES, SEED  # noqa: E402
from harness.vecu.defects import load_catalogue  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
# The decision code, in groups: each group's functions (`Class.method` or `function`) per file; the
# rules whose tests judge them are in bench/mutation_check.py (RULES): a mutant runs only its own
# group's tests, so each costs what they cost.
GROUPS: dict[str, tuple[dict[str, tuple[str, ...]], tuple[str, ...]]] = {
    "ota-safety": ({
        "harness/vecu/ota_client.py": ("unsafe_reason", "OtaClient._inhibit", "OtaClient._on_waitingsafestate"),
        "harness/vecu/uds_server.py": ("UdsServer._may_program",),
    }, RULES["ota-safety"]),
    "ota-flow": ({
        "harness/vecu/ota_client.py": ("OtaClient._at_rest", "OtaClient._on_awaitingconsent",
                                       "OtaClient._on_postponed", "OtaClient._on_installing",
                                       "OtaClient._on_activating", "OtaClient._power_lost", "OtaClient._fail",
                                       "OtaClient._finish"),
    }, RULES["ota-flow"]),
    "privacy": ({
        "harness/vecu/privacy.py": ("OwnerSwitches.on", "declared_precision", "coarsen"),
        "harness/vecu/telematics.py": ("MqttTelemetry.tick:conditions",),
        "harness/vecu/services.py": ("MapCrowdsourcing.tick:conditions", "DriverMonitoring._allowed",
                                     "DriverMonitoring.tick:conditions", "VoiceAssistant.tick:conditions"),
        "harness/vecu/uplink.py": ("JsonUplink.request:conditions",),
    }, RULES["privacy"]),
}


Span = tuple[tuple[int, int], tuple[int, int]]
CONDITIONS = ":conditions"  # a name ending so keeps only the conditions it decides on, not what it builds


def decision_spans(source: Path, names: tuple[str, ...]) -> list[Span]:
    """Where the named functions (`Class.method` or `function`) decide: the whole function, or with
    `:conditions` only the tests of its if, while and conditional expressions, its `and`/`or`
    expressions and its lambdas (the switch asked again before sending)."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    spans: list[Span] = []

    def span(node: ast.expr) -> Span:
        return (node.lineno, node.col_offset), (node.end_lineno or node.lineno, node.end_col_offset or 0)

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            name = f"{prefix}{getattr(child, 'name', '')}"
            if isinstance(child, ast.ClassDef):
                visit(child, f"{name}.")
            elif isinstance(child, ast.FunctionDef) and name in names:
                spans.append(((child.lineno, 0), ((child.end_lineno or child.lineno) + 1, 0)))
            elif isinstance(child, ast.FunctionDef) and name + CONDITIONS in names:
                for inner in ast.walk(child):
                    if isinstance(inner, ast.If | ast.While | ast.IfExp):
                        spans.append(span(inner.test))
                    elif isinstance(inner, ast.BoolOp | ast.Lambda):
                        spans.append(span(inner))

    visit(tree, "")
    return spans


def annotation_spans(source: Path) -> list[Span]:
    """Where type annotations are: a mutant there changes nothing that runs (postponed evaluation)."""
    spans = []
    for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
        notes = [node.returns] if isinstance(node, ast.FunctionDef) else []
        if isinstance(node, ast.arg | ast.AnnAssign):
            notes.append(node.annotation)
        spans += [((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)) for n in notes if n]
    return spans


def test_command(group: str, keyword: str, reports: Path) -> str:
    """bench/mutation_check.py of the mutated tree (the cwd cosmic-ray runs it in), not of the checkout."""
    return (f"{shlex.quote(sys.executable)} bench/mutation_check.py {group} --keyword {shlex.quote(keyword)} "
            f"--reports {shlex.quote(str(reports))}")


def extract(work: Path) -> Path:
    """The committed tree in `work/src`: the checkout's uncommitted edits are never mutated or judged."""
    src = work / "src"
    src.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive, check=True)
    return src


def prepare(src: Path, work: Path, group: str, keyword: str, timeout: float) -> tuple[Path, Path]:
    """A cosmic-ray config and an initialised session for one group, in `work`."""
    targets, _ = GROUPS[group]
    config, session = work / f"{group}.toml", work / f"{group}.sqlite"
    modules = ", ".join(json.dumps(path) for path in targets)
    config.write_text(
        "[cosmic-ray]\n"
        f"module-path = [{modules}]\n"
        f"timeout = {timeout}\n"
        "excluded-modules = []\n"
        f"test-command = {json.dumps(test_command(group, keyword, work / f'{group}-reports'))}\n"
        "[cosmic-ray.distributor]\nname = \"local\"\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "cosmic_ray.cli", "init", str(config), str(session)], cwd=src,
                   check=True, capture_output=True)
    return config, session


def keep_decisions(src: Path, session: Path, targets: dict[str, tuple[str, ...]], limit: int | None) -> int:
    """Skip every mutant outside the decision code (and beyond `limit`, drawn at random); the number kept."""
    decisions = {path: decision_spans(src / path, names) for path, names in targets.items()}
    notes = {path: annotation_spans(src / path) for path in targets}
    with use_db(str(session), WorkDB.Mode.open) as db:
        kept: list[str] = []
        skipped: list[str] = []
        for item in db.work_items:
            mutation = item.mutations[0]
            target = next((t for t in targets if str(mutation.module_path).endswith(t)), None)
            position = tuple(mutation.start_pos)
            inside = target is not None and any(begin <= position < end for begin, end in decisions[target]) \
                and not any(begin <= position < end for begin, end in notes[target])
            (kept if inside else skipped).append(item.job_id)
        kept.sort()  # the database's order is not stable: the sample must be the same for a seed
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
    return {"killed": killed, "survived": len(survived), "incompetent": incompetent, "survivors": survived}


def _hint(diff: str) -> str:
    """Where to look first when a survivor's line selects a seeded defect: the defect's run still caught it."""
    changed = " ".join(line for line in diff.splitlines() if line.startswith(("-", "+")))
    named = sorted(name for name in load_catalogue() if f'"{name}"' in changed)
    return (f"on a line that selects seeded defect {', '.join(named)}, still caught: the change leaves that defect "
            "as visible as before, or alters the compliant branch where no test looks") if named else ""


def _rate(killed: int, survived: int) -> float | None:
    return round(killed / (killed + survived), 3) if killed + survived else None


def run_group(src: Path, work: Path, group: str, args: argparse.Namespace) -> dict[str, Any]:
    """One group's score, or why it has none (its unmutated tests do not pass)."""
    targets, rules = GROUPS[group]
    started = time.monotonic()
    config, session = prepare(src, work, group, args.keyword, args.timeout)
    kept = keep_decisions(src, session, targets, args.limit)
    if args.count:
        return {"mutants": kept}
    # the unmutated code must pass and its defects be caught, or every mutant would count as killed
    baseline = subprocess.run(shlex.split(test_command(group, args.keyword, work / f"{group}-baseline")), cwd=src,
                              capture_output=True, text=True, check=False)
    if baseline.returncode != 0:
        return {"mutants": kept, "error": f"the unmutated tree does not pass (exit {baseline.returncode}): "
                                          f"{(baseline.stdout + baseline.stderr)[-1500:]}"}
    subprocess.run([sys.executable, "-m", "cosmic_ray.cli", "exec", str(config), str(session)], cwd=src,
                   check=True, capture_output=True)
    found = results(session)
    return {"mutants": kept, **found, "kill_rate": _rate(found["killed"], found["survived"]),
            "rules": list(rules), "wall_s": round(time.monotonic() - started, 1)}


def read_group(work: Path, group: str) -> dict[str, Any]:
    """What a group's session in `work` holds so far (a run may still be writing it, or have stopped)."""
    session = work / f"{group}.sqlite"
    if not session.is_file():
        return {"mutants": 0, "error": f"no session {session}"}
    with use_db(str(session), WorkDB.Mode.open) as db:
        skipped = sum(1 for _, r in db.completed_work_items if r.worker_outcome == WorkerOutcome.SKIPPED)
        mutants = sum(1 for _ in db.work_items) - skipped
    found = results(session)
    return {"mutants": mutants, **found, "kill_rate": _rate(found["killed"], found["survived"]),
            "rules": list(GROUPS[group][1]), "wall_s": 0.0,
            "pending": mutants - found["killed"] - found["survived"] - found["incompetent"]}


def _work(args: argparse.Namespace) -> tempfile.TemporaryDirectory[str] | None:
    if args.work is None:
        return tempfile.TemporaryDirectory(prefix="bench-mutation-")
    if args.work.exists() and any(args.work.iterdir()):
        raise SystemExit(f"mutation: {args.work} is not empty; a kept run is read with --report")
    args.work.mkdir(parents=True, exist_ok=True)
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--group", action="append", choices=sorted(GROUPS), help="only these groups (repeatable)")
    parser.add_argument("--limit", type=int, default=None, help="mutants per group at most, drawn at random")
    parser.add_argument("--keyword", default=KEYWORD, help=f"pytest -k of the suite tests run (default {KEYWORD!r})")
    parser.add_argument("--timeout", type=float, default=1800.0,
                        help="seconds one mutant's test command (every run of its group) may take")
    parser.add_argument("--count", action="store_true", help="only count each group's mutants; run nothing")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--work", type=Path, default=None,
                        help="keep the tree and sessions in this new directory (default: a temporary one)")
    parser.add_argument("--report", action="store_true",
                        help="with --work: print what its sessions hold so far; run nothing")
    args = parser.parse_args(argv)
    if args.report and args.work is None:
        parser.error("--report reads the sessions of --work DIR")
    os.environ.setdefault("HARNESS_RIG_TAG", "mut")  # namespaces of its own, beside other runs
    groups = {}
    if args.report:
        groups = {group: read_group(args.work, group) for group in args.group or list(GROUPS)}
    else:
        temporary = _work(args)
        with temporary or contextlib.nullcontext(str(args.work)) as tmp:
            src = extract(Path(tmp))
            for group in args.group or list(GROUPS):
                groups[group] = run_group(src, Path(tmp), group, args)
    scored = [g for g in groups.values() if "killed" in g]
    killed, survived = sum(g["killed"] for g in scored), sum(g["survived"] for g in scored)
    report = {"groups": groups, "killed": killed, "survived": survived, "kill_rate": _rate(killed, survived),
              "limit": args.limit, "seed": SEED}
    if args.json:
        print(json.dumps(report, sort_keys=True))
        return 1 if any("error" in g for g in groups.values()) else 0
    for name, group in groups.items():
        if "error" in group:
            print(f"{name}: {group['mutants']} mutants; no score: {group['error']}")
        elif args.count:
            print(f"{name}: {group['mutants']} mutants")
        else:
            print(f"{name}: {group['mutants']} mutants: {group['killed']} killed, {group['survived']} survived, "
                  f"{group['incompetent']} incompetent; kill rate {group['kill_rate']} "
                  + (f"so far, {group['pending']} not run yet" if "pending" in group else
                     f"in {group['wall_s']:.0f} s"))
    if not args.count:
        print(f"all: {killed} killed, {survived} survived; kill rate {report['kill_rate']}")
    for name, group in groups.items():
        for survivor in group.get("survivors", []):
            print(f"\nSURVIVED [{name}] {survivor['module']}:{survivor['line']} ({survivor['operator']})"
                  + (f"\n  {survivor['hint']}" if survivor["hint"] else "") + f"\n{survivor['diff']}")
    return 1 if any("error" in g for g in groups.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
