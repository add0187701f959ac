"""A readable excerpt of a test's capture: the vehicle's flows with what they decoded to, and the CAN
messages seen, with the frames around each finding.

It lets a reader of the report see what a verdict rests on without opening Wireshark; it is context,
bounded in size, and never an input to a verdict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from harness.findings import Finding
from harness.net.evidence import CanRecord, Evidence
from harness.net.payloads import describe

MAX_FLOWS = 40
MAX_FRAMES_PER_FINDING = 16
WINDOW_S = 0.5  # CAN frames this close (wall seconds) to a finding are shown with it


def _when(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S.%f")[:-3]


def capture_excerpt(evidence: Evidence, findings: Sequence[Finding]) -> str:
    info = evidence.info
    lines = [f"capture: {evidence.packets} IP packets, {evidence.can_frames} CAN frames; "
             f"drops {'unknown' if not info.drop_reported else info.dropped}"
             + ("; TRUNCATED" if info.truncated else "")]
    problems = evidence.completeness_problems()
    lines += [f"incomplete: {p}" for p in problems]
    flows = sorted(evidence.flows.flows.values(), key=lambda f: (f.first_time, str(f.client), str(f.server)))
    lines.append(f"\nflows ({len(flows)}):")
    for flow in flows[:MAX_FLOWS]:
        payload = describe(flow)
        cats = ", ".join(sorted(payload.categories)) or "-"
        lines.append(f"  {_when(flow.first_time)}  {flow.protocol_name:3} {flow.client} -> {flow.server}  "
                     f"{flow.packets} pkts  {payload.protocol}: {payload.detail or '-'}  [{cats}]")
    if len(flows) > MAX_FLOWS:
        lines.append(f"  ... {len(flows) - MAX_FLOWS} more flows")
    counts = Counter(r.message for r in evidence.can)
    lines.append(f"\nCAN messages decoded ({sum(counts.values())}):")
    lines += [f"  {name}: {n}" for name, n in sorted(counts.items())]
    if evidence.can_gaps:
        lines.append(f"  lost frames (alive counters): {dict(sorted(evidence.can_gaps.items()))}")
    for finding in findings:
        if finding.time is None or not evidence.can:
            continue
        # the bus around the finding: per message the frame closest to it, so cyclic chatter stays one line
        closest: dict[str, CanRecord] = {}
        for record in evidence.can:
            gap = abs(record.time - finding.time)
            if gap <= WINDOW_S and (record.message not in closest
                                    or gap < abs(closest[record.message].time - finding.time)):
                closest[record.message] = record
        if not closest:
            continue
        lines.append(f"\naround {finding.verdict.value.upper()} at {_when(finding.time)} ({finding.detail[:80]}):")
        for record in sorted(closest.values(), key=lambda r: (r.time, r.message))[:MAX_FRAMES_PER_FINDING]:
            values = ", ".join(f"{k}={v}" for k, v in sorted(record.values.items()) if not k.startswith("counter."))
            lines.append(f"  {_when(record.time)}  0x{record.arbitration_id:03X} {record.message}: {values}")
    return "\n".join(lines) + "\n"
