"""Plain-text summary of a run record for the terminal.

One row per test (clauses, name, verdict, reason) plus a totals line; the reason is never cut, it wraps
onto as many lines as it needs under its own column. Standard library only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

__all__ = ["VERDICTS", "count_verdicts", "overall_verdict", "printable", "summary_table"]

#: Verdicts in the order the totals line lists them.
VERDICTS: tuple[str, ...] = ("pass", "fail", "inconclusive", "error")

# Target terminal width; the reason column absorbs whatever the other columns leave.
_WIDTH = 120
_GAP = "  "
_REASON_MIN = 40  # narrower, a wrapped reason reads badly, so the rule and name columns give way
_COLUMN_FLOOR = 16  # ...but never below this
_BREAKS = "_,-./"  # where a word longer than its column is broken, before cutting it anywhere

_ANSI = {"pass": "\x1b[32m", "fail": "\x1b[1;31m", "inconclusive": "\x1b[33m", "error": "\x1b[35m"}
_RESET = "\x1b[0m"
_SPACES = re.compile(r"\s+")


def _clean(value: Any) -> str:
    """Render a value as one printable line.

    Reasons and details can quote bytes the vehicle sent, so control characters (including
    ESC, which would let a hostile ECU drive the operator's terminal) are dropped.
    """
    text = "" if value is None else str(value)
    kept = (" " if ch.isspace() else ch for ch in text if ch.isspace() or not _is_control(ch))
    return _SPACES.sub(" ", "".join(kept)).strip()


def printable(value: Any) -> str:
    """`value` as one line safe to print on a terminal (no control characters)."""
    return _clean(value)


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch).startswith("C")


def _char_width(ch: str) -> int:
    # CJK text (plausible under the "cn" profile) takes two cells; combining marks take none.
    if unicodedata.combining(ch):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _width(text: str) -> int:
    return sum(_char_width(ch) for ch in text)


def _wrap(text: str, width: int) -> list[str]:
    """``text`` in lines of at most ``width`` display cells: broken at spaces, a word longer than the
    column after one of ``_BREAKS`` (test names, rule lists), else anywhere. Nothing is left out."""
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        candidate = f"{current} {word}" if current else word
        if _width(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        while _width(word) > width:
            head = _head(word, width)
            lines.append(head)
            word = word[len(head):]
        current = word
    if current or not lines:
        lines.append(current)
    return lines


def _head(word: str, width: int) -> str:
    """The longest start of ``word`` that fits ``width``, ending after a break character if one is there."""
    head, used = "", 0
    for ch in word:
        if used + _char_width(ch) > width:
            break
        head, used = head + ch, used + _char_width(ch)
    cut = max(head.rfind(ch) for ch in _BREAKS)
    return head[:cut + 1] if cut > 0 else (head or word[:1])


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - _width(text))


def _clauses(test: Mapping[str, Any]) -> str:
    """The rule ids where the record has them (short, one per rule), else the clause ids."""
    rules = [_clean(str(r)) for r in test.get("rules") or () if r]
    if rules:
        return ", ".join(rules)
    raw = test.get("clauses") or ()
    ids = [_clean(c.get("id", "")) if isinstance(c, Mapping) else _clean(c) for c in raw]
    return ", ".join(i for i in ids if i) or "-"


def _tests(run: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [t for t in run.get("tests") or () if isinstance(t, Mapping)]


def count_verdicts(run: Mapping[str, Any]) -> dict[str, int]:
    """Return ``{verdict: count}`` for every verdict in :data:`VERDICTS`."""
    # Prefer the recorded counts; recompute only for a partial record (e.g. an aborted run).
    recorded = run.get("counts")
    if isinstance(recorded, Mapping):
        return {v: int(recorded.get(v, 0) or 0) for v in VERDICTS}
    counts = dict.fromkeys(VERDICTS, 0)
    for test in _tests(run):
        verdict = str(test.get("verdict", "")).lower()
        if verdict in counts:
            counts[verdict] += 1
    return counts


def overall_verdict(run: Mapping[str, Any]) -> str:
    """Return the run's overall verdict, lower-case, deriving it if the record lacks one."""
    recorded = run.get("verdict")
    if recorded:
        return str(recorded).lower()
    counts = count_verdicts(run)
    # the analyze contract's order: error > fail > inconclusive > pass
    for verdict in ("error", "fail", "inconclusive"):
        if counts.get(verdict):
            return verdict
    return "pass" if counts.get("pass") else "inconclusive"


def _verdict_cell(verdict: str, width: int, color: bool) -> str:
    word = _clean(verdict).upper() or "?"
    pad = " " * max(0, width - _width(word))
    # Pad outside the escape codes so colored and plain tables align identically.
    if color and verdict in _ANSI:
        return f"{_ANSI[verdict]}{word}{_RESET}{pad}"
    return word + pad


def summary_table(run: Mapping[str, Any], *, color: bool = False) -> str:
    """Return the run as an aligned text table followed by a totals line.

    Layout: a header, a rule, one row per test, a rule, then
    ``N tests: a pass, b fail, c inconclusive, d error -> VERDICT``.
    ANSI colors are emitted only when ``color`` is true.
    """
    tests = _tests(run)
    rows = [
        (
            _clauses(t),
            _clean(t.get("name") or t.get("nodeid") or "?"),
            str(t.get("verdict", "")).lower(),
            _clean(t.get("reason", "")),
        )
        for t in tests
    ]
    header = ("RULE", "TEST", "VERDICT", "REASON")
    w_clause = max([_width(header[0])] + [_width(r[0]) for r in rows])
    w_name = max([_width(header[1])] + [_width(r[1]) for r in rows])
    w_verdict = max([_width(header[2])] + [_width(_clean(r[2]).upper()) for r in rows])
    fixed = w_verdict + 3 * len(_GAP)
    # Clause ids and names are what the reader scans for, so they keep their width unless the reason
    # column would become too narrow to read; then the wider of the two gives way (and wraps).
    while _WIDTH - fixed - w_clause - w_name < _REASON_MIN and max(w_clause, w_name) > _COLUMN_FLOOR:
        if w_clause >= w_name:
            w_clause -= 1
        else:
            w_name -= 1
    w_reason = max(_REASON_MIN, _WIDTH - fixed - w_clause - w_name)

    def line(clause: str, name: str, verdict_cell: str, reason: str) -> str:
        # every column wraps rather than cutting: the reader gets the whole rule list, name and reason
        columns = [_wrap(clause, w_clause), _wrap(name, w_name), [verdict_cell], _wrap(reason, w_reason)]
        blank_verdict = " " * w_verdict
        out: list[str] = []
        for i in range(max(len(c) for c in columns)):
            cells = [_pad(columns[0][i] if i < len(columns[0]) else "", w_clause),
                     _pad(columns[1][i] if i < len(columns[1]) else "", w_name),
                     verdict_cell if i == 0 else blank_verdict,
                     columns[3][i] if i < len(columns[3]) else ""]
            out.append(_GAP.join(cells).rstrip())  # rstrip: no trailing blanks when the reason is empty
        return "\n".join(out)

    rule = "-" * min(_WIDTH, w_clause + w_name + w_verdict + w_reason + 3 * len(_GAP))
    out = [line(header[0], header[1], _pad(header[2], w_verdict), header[3]), rule]
    out += [line(c, n, _verdict_cell(v, w_verdict, color), r) for c, n, v, r in rows]
    out.append(rule)

    counts = count_verdicts(run)
    overall = overall_verdict(run)
    noun = "test" if len(tests) == 1 else "tests"
    tally = ", ".join(f"{counts[v]} {v}" for v in VERDICTS)
    verdict_word = _clean(overall).upper()
    if color and overall in _ANSI:
        verdict_word = f"{_ANSI[overall]}{verdict_word}{_RESET}"
    out.append(f"{len(tests)} {noun}: {tally} -> {verdict_word}")
    return "\n".join(out)
