"""Measures `harness run` serially and on N parallel virtual rigs (pytest-xdist) over the same suites and
seed, compares every test's verdict, and optionally does the same on the foreign-DBC rig (tests/data/foreign).

    .venv/bin/python bench/parallel_rigs.py                 # serial vs -n 2 on rigs/virtual.toml
    .venv/bin/python bench/parallel_rigs.py --foreign       # also OEM-B's DBC through the mapping, -n 2
    .venv/bin/python bench/parallel_rigs.py -k consent      # a subset of the suites

Prints one JSON object: wall time of each run, the speed-up, and every test whose verdict differs (none
expected). Runs one after another, so each has the machine to itself (as far as the machine is idle)."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FOREIGN = ROOT / "tests" / "data" / "foreign" / "rig.toml"
TIMEOUT_S = 1800  # a whole-suite run on a loaded machine; anything longer is a hang


def run(reports: Path, *args: str) -> dict[str, Any]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--reports", str(reports),
                           "--no-allure-report", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=TIMEOUT_S, check=False, env={**os.environ, "HARNESS_RIG_TAG": "bench"})
    wall = time.monotonic() - started
    results = reports / "results.json"
    if not results.is_file():
        raise SystemExit(f"harness run {' '.join(args)} wrote no results: {done.stderr.strip()[-500:]}")
    data = json.loads(results.read_text(encoding="utf-8"))
    return {"wall_s": round(wall, 1), "status": done.returncode, "verdict": data["verdict"],
            "tests": {t["nodeid"]: t["verdict"] for t in data["tests"]}}


def differences(a: dict[str, Any], b: dict[str, Any]) -> dict[str, list[str]]:
    names = list(dict.fromkeys([*a["tests"], *b["tests"]]))
    return {n: [a["tests"].get(n, "missing"), b["tests"].get(n, "missing")] for n in names
            if a["tests"].get(n) != b["tests"].get(n)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2, help="parallel workers (default 2)")
    parser.add_argument("-k", default=None, help="only the suite tests matching this -k expression")
    parser.add_argument("--seed", default="20260501", help="hypothesis seed shared by every run")
    parser.add_argument("--foreign", action="store_true", help="also run on the foreign-DBC rig with -n N")
    args = parser.parse_args()
    common = ["--seed", args.seed] + (["-k", args.k] if args.k else [])
    with tempfile.TemporaryDirectory(prefix="bench-rigs-") as tmp:
        serial = run(Path(tmp) / "serial", *common)
        parallel = run(Path(tmp) / "parallel", *common, "-n", str(args.n))
        report: dict[str, Any] = {
            "tests": len(serial["tests"]), "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 2),
            "serial_s": serial["wall_s"], f"parallel_{args.n}_s": parallel["wall_s"],
            "speedup": round(serial["wall_s"] / parallel["wall_s"], 2) if parallel["wall_s"] else None,
            "verdicts": {"serial": serial["verdict"], "parallel": parallel["verdict"]},
            "differences_parallel_vs_serial": differences(serial, parallel)}
        if args.foreign:
            foreign = run(Path(tmp) / "foreign", *common, "--rig", str(FOREIGN), "-n", str(args.n))
            report["foreign_s"] = foreign["wall_s"]
            report["differences_foreign_vs_serial"] = differences(serial, foreign)
    print(json.dumps(report, indent=2))
    same = not report["differences_parallel_vs_serial"] and not report.get("differences_foreign_vs_serial")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
