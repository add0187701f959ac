"""`harness analyze CAPTURE --profile cn|eu --netmap NETMAP.toml [--keylog FILE] [--gbt32960-key FILE]
[--truth TRUTH.toml] [--dbc DBC [--mapping MAP]] [--json]`: judge any capture offline with the same checks a
live run uses, per the offline analysis contract; ground truth from a file or from the capture's own CAN.

Labs and approval bodies script against it, so the JSON shape and exit statuses are fixed: 0 pass,
1 fail, 2 usage error, 3 inconclusive, 4 error; a capture that cannot be read is `error`, never a traceback."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from harness.errors import ConfigError, HarnessError
from harness.findings import Finding, Verdict, overall
from harness.policy.policy import Policy

# The contract's checks, in report order; a check runs once its module has registered it.
ANALYZE_CHECKS = ("locality", "minimization")
CAPTURE_CHECK = "capture"  # findings about the capture file itself


@dataclass
class Analysis:
    verdict: Verdict
    findings: list[Finding]
    packets: int = 0
    flows: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict.value, "findings": [_finding(f) for f in self.findings],
                "stats": {"packets": self.packets, "flows": self.flows}}


def _finding(finding: Finding) -> dict[str, Any]:
    return {"check": finding.check, "verdict": finding.verdict.value, "clause": finding.clause, "src": finding.src,
            "dst": finding.dst, "region": finding.region, "protocol": finding.protocol,
            "categories": list(finding.categories), "detail": finding.detail}


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("analyze", help="judge a capture offline (locality, minimization)",
                            description="Judge a pcap/pcapng capture offline against a profile and a netmap.")
    parser.add_argument("capture", type=Path, metavar="CAPTURE", help="pcap or pcapng file")
    parser.add_argument("--profile", required=True, metavar="cn|eu", help="regulatory profile")
    parser.add_argument("--netmap", required=True, type=Path, metavar="NETMAP.toml",
                        help="netmap file (or a rig file with a [netmap] table)")
    parser.add_argument("--keylog", type=Path, metavar="SSLKEYLOGFILE",
                        help="NSS key log to decrypt TLS application data")
    parser.add_argument("--gbt32960-key", type=Path, action="append", default=[], metavar="FILE",
                        help="the GB/T 32960 platform's key to decrypt encrypted data units: 32 hex digits "
                             "(AES-128, optionally after AES-128-CBC or AES-128-ECB) or a PEM RSA private key; "
                             "repeatable")
    parser.add_argument("--truth", type=Path, metavar="TRUTH.toml",
                        help="ground truth to search payloads for: VIN, identity strings, the vehicle's track")
    parser.add_argument("--dbc", type=Path, metavar="DBC",
                        help="decode the capture's CAN frames with this DBC and take the vehicle's track from them")
    parser.add_argument("--mapping", type=Path, metavar="MAP",
                        help="signal mapping for a DBC other than the harness's (see 'Run on your bench')")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """The command: inputs are checked first (bad ones are usage errors), then the capture is judged."""
    from harness.net.gbt32960_crypto import load_unit_keys
    from harness.net.keylog import load_keylog
    from harness.policy.netmap import load_netmap
    from harness.policy.profile import load_profile
    from harness.truth.files import load_truth

    out = out or sys.stdout
    capture: Path = args.capture
    if not capture.exists():
        raise ConfigError(f"capture {capture} not found")
    policy = Policy(load_profile(args.profile), load_netmap(args.netmap))
    keys = load_keylog(args.keylog) if args.keylog else None
    unit_keys = load_unit_keys(args.gbt32960_key) if args.gbt32960_key else None
    truth = load_truth(args.truth) if args.truth else None
    codec = position_codec(args.dbc, args.mapping) if args.dbc else None
    if args.mapping and not args.dbc:
        raise ConfigError("--mapping needs --dbc DBC, the DBC it maps")
    analysis = analyze(capture, policy, keys, truth=truth, codec=codec, unit_keys=unit_keys)
    for note in analysis.notes if args.json else ():  # the table shows them itself
        print(f"harness: note: {note}", file=sys.stderr)
    for finding in analysis.findings:
        if finding.verdict is Verdict.ERROR:
            print(f"harness: error: {finding.detail}", file=sys.stderr)
    try:
        if args.json:
            json.dump(analysis.to_dict(), out)
            out.write("\n")
        else:
            write_table(analysis, capture, args.profile, out)
        out.flush()
    except BrokenPipeError:  # the reader (e.g. `| head`) stopped early: the exit status still tells
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return analysis.verdict.exit_status


def position_codec(dbc: Path, mapping: Path | None) -> Any:
    """A codec for the capture's CAN that reads the vehicle's position: the harness's own signal
    mapping unless another is given; a DBC that carries no position is a usage error."""
    from harness.can.codec import VehicleCodec
    from harness.can.mapping import reference_files
    from harness.truth.from_can import LATITUDE, LONGITUDE

    codec = VehicleCodec.load(dbc, mapping or reference_files()[1])
    missing = [name for name in (LATITUDE, LONGITUDE) if name not in codec.signals]
    if missing:
        raise ConfigError(f"{dbc}: no position signals ({', '.join(missing)} not mapped); "
                          "give --mapping naming the DBC's latitude and longitude signals")
    return codec


def analyze(capture: Path, policy: Policy, keys: Any = None, *, truth: Any = None, codec: Any = None,
            unit_keys: Any = None) -> Analysis:
    """Load the capture and run the contract's checks; a capture that cannot be read is one `error`.
    `unit_keys` (the GB/T 32960 platform's) open encrypted data units."""
    import harness.checks  # noqa: F401 - registers every check
    from harness.checks.registry import CHECKS
    from harness.net.evidence import load_evidence
    from harness.net.pcapfile import CaptureFormatError

    try:
        evidence = load_evidence(capture, codec, keys, truth, unit_keys=unit_keys)
    except CaptureFormatError as exc:
        return Analysis(Verdict.ERROR, [Finding(CAPTURE_CHECK, Verdict.ERROR, "", str(exc))])
    except OSError as exc:
        return Analysis(Verdict.ERROR, [Finding(CAPTURE_CHECK, Verdict.ERROR, "", f"{capture}: {exc.strerror}")])
    findings: list[Finding] = []
    for name in ANALYZE_CHECKS:
        check = CHECKS.get(name)
        if check is None:
            continue
        try:
            findings += check(evidence, policy)
        except HarnessError as exc:
            findings.append(Finding(name, Verdict.ERROR, "", f"the {name} check could not run: {exc}"))
        except Exception as exc:  # noqa: BLE001 - a verdict of error, with the cause, instead of a traceback
            findings.append(Finding(name, Verdict.ERROR, "",
                                    f"the {name} check failed on this capture: {type(exc).__name__}: {exc}"))
    if not findings:
        findings.append(Finding(CAPTURE_CHECK, Verdict.ERROR, "", "no check is registered to judge the capture"))
    table = evidence.flows
    packets = table.packets + evidence.can_frames + sum(table.unsupported.values())
    return Analysis(overall(findings), findings, packets, len(table.flows), evidence.completeness_notes())


def write_table(analysis: Analysis, capture: Path, profile: str, out: TextIO) -> None:
    """Findings worst first, one per line, for a person at a terminal."""
    print(f"{capture}: {analysis.packets} packets, {analysis.flows} flows; profile {profile}", file=out)
    rows = [("VERDICT", "CHECK", "SOURCE -> DESTINATION", "REGION", "PROTOCOL", "CATEGORIES", "DETAIL")]
    for finding in sorted(analysis.findings, key=lambda f: -f.verdict.severity):
        route = f"{finding.src} -> {finding.dst}" if finding.dst else "-"
        rows.append((finding.verdict.value.upper(), finding.check, route, finding.region or "-",
                     finding.protocol or "-", ", ".join(finding.categories) or "-", finding.detail))
    widths = [max(len(row[i]) for row in rows) for i in range(6)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:6])) + "  " + row[6], file=out)
    for note in analysis.notes:
        print(f"note: {note}", file=out)
    print(f"overall verdict: {analysis.verdict.value.upper()}", file=out)
