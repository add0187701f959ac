"""Where a bench ECU's TLS secrets come from ([tls] keylog or keylog_command): the rig file is checked on
load, each test keeps only the lines written during it, `rig check` says whether a key log can be had,
and a fetch that fails or a garbled log keeps the TLS sessions it leaves shut from a pass."""

from __future__ import annotations

import json
import shlex
import sys
import tomllib
from pathlib import Path

import pytest

from harness.checks.locality import check_locality
from harness.errors import ConfigError
from harness.findings import Verdict, overall
from harness.net.evidence import load_evidence
from harness.net.keylog import parse_keylog
from harness.policy.netmap import parse_netmap
from harness.policy.policy import Policy
from harness.policy.profile import load_profile
from harness.rig.check import RigReport, Status, _check_keylog, check_rig
from harness.rig.config import load_rig
from harness.rig.keylog_source import KeylogFetcher, KeylogSource
from harness.rig.session import KEYLOG_NAME, KEYLOG_PROBLEM_NAME, RigSession
from tests.capture_builder import CN_BROKER, NETMAP, VEHICLE, CaptureBuilder, client_hello, tls_record
from tests.config_errors import assert_refused
from tests.data.bench_fakes import FakeEcu, LoopbackTraffic, bench_rig

RANDOM = bytes(range(32))
LINE_12 = f"CLIENT_RANDOM {RANDOM.hex()} {'ab' * 48}\n"
LINES_13 = "".join(f"{label} {'cd' * 32} {'ef' * 32}\n" for label in (
    "CLIENT_HANDSHAKE_TRAFFIC_SECRET", "SERVER_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0",
    "SERVER_TRAFFIC_SECRET_0"))


def _rig(tmp_path: Path, tls: str, channel: str = "keylog-bench") -> Path:
    path = bench_rig(tmp_path, channel)
    path.write_text(path.read_text(encoding="utf-8") + tls, encoding="utf-8")
    return path


def _printer(path: Path) -> str:
    """A command printing the file, as `ssh eng-build cat ...` would, without ssh."""
    return shlex.join([sys.executable, "-c", "import sys; sys.stdout.write(open(sys.argv[1]).read())", str(path)])


# -- the rig file ----------------------------------------------------------------------------------
def test_either_form_loads_and_neither_is_fine(tmp_path: Path) -> None:
    (tmp_path / "ecu").mkdir()
    rig = load_rig(_rig(tmp_path, '[tls]\nkeylog = "ecu/sslkeys.log"\n'))
    assert rig.keylog == KeylogSource(path=tmp_path / "ecu" / "sslkeys.log")  # relative to the rig file
    rig = load_rig(_rig(tmp_path, '[tls]\nkeylog_command = "ssh eng-build \'cat /var/log/ssl keys\'"\n'
                                  'keylog_timeout_s = 4\n'))
    assert rig.keylog == KeylogSource(command=("ssh", "eng-build", "cat /var/log/ssl keys"), timeout_s=4.0)
    assert load_rig(_rig(tmp_path, "")).keylog is None


@pytest.mark.parametrize(("tls", "expected"), [
    ('keylog = "/k.log"\nkeylog_command = "cat /k.log"', ["[tls] keylog_command", "not both"]),
    ("keylog = 5", ["[tls] keylog", "must be a str"]),
    ('keylog_command = ["cat", "/k.log"]', ["[tls] keylog_command", "must be a str"]),
    ('keylog = "  "', ["[tls] keylog", "not a folder"]),
    ('keylog = ""', ["[tls] keylog", "not a folder"]),
    ('keylog_command = " "', ["[tls] keylog_command", "must not be empty"]),
    ('keylog_command = "ssh eng \'cat /k.log"', ["[tls] keylog_command", "cannot be split"]),
    ('keylog = "/k.log"\nkeylog_timeout_s = 0', ["[tls] keylog_timeout_s", "between 0 and 300"]),
    ('keylog = "/k.log"\nkeylog_timeout_s = "10"', ["[tls] keylog_timeout_s", "must be a float"]),
    ("keylog_timeout_s = 5", ["[tls] keylog_timeout_s", "needs keylog or keylog_command"]),
    ('keylogfile = "/k.log"', ["[tls] keylogfile", "unknown key"]),
])
def test_mistakes_name_the_file_and_the_key(tmp_path: Path, tls: str, expected: list[str]) -> None:
    path = _rig(tmp_path, f"[tls]\n{tls}\n")
    assert_refused(lambda: load_rig(path), path, expected)


def test_the_virtual_rig_takes_no_tls_table(tmp_path: Path) -> None:
    virtual = Path(__file__).resolve().parent.parent / "rigs" / "virtual.toml"
    path = tmp_path / "virtual-tls.toml"
    path.write_text(f'[rig]\nextends = "{virtual}"\n[tls]\nkeylog = "/k.log"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[tls\] keylog: \[tls\] is for benches"):
        load_rig(path)


# -- per test: only the lines written during it ---------------------------------------------------
def test_a_file_gives_each_test_the_lines_written_during_it(tmp_path: Path) -> None:
    log = tmp_path / "sslkeys.log"
    fetcher = KeylogFetcher(KeylogSource(path=log))
    fetcher.begin()                                     # not written yet: all it will hold is the test's
    log.write_text(LINE_12, encoding="ascii")
    first = fetcher.fetch()
    assert (first.text, first.secrets, first.problem) == (LINE_12, 1, None)
    fetcher.begin()
    with log.open("a", encoding="ascii") as handle:
        handle.write(LINES_13)
    second = fetcher.fetch()
    assert second.text == LINES_13 and second.secrets == 4 and second.problem is None
    fetcher.begin()
    third = fetcher.fetch()
    assert third.text == "" and third.problem is not None and "no line was written during the test" in third.problem


def test_a_line_half_written_at_the_start_belongs_to_the_test(tmp_path: Path) -> None:
    log = tmp_path / "sslkeys.log"
    log.write_text(LINE_12 + LINE_12[:20], encoding="ascii")
    fetcher = KeylogFetcher(KeylogSource(path=log))
    fetcher.begin()
    with log.open("a", encoding="ascii") as handle:
        handle.write(LINE_12[20:])
    got = fetcher.fetch()
    assert got.text == LINE_12 and got.problem is None


def test_a_file_replaced_during_the_test_is_read_whole(tmp_path: Path) -> None:
    log = tmp_path / "sslkeys.log"
    log.write_text(LINE_12 * 3, encoding="ascii")
    fetcher = KeylogFetcher(KeylogSource(path=log))
    fetcher.begin()
    # the ECU restarted and began a new log, which has already grown past the old one's end
    replacement = tmp_path / "new.log"
    replacement.write_text(LINES_13 + LINES_13, encoding="ascii")
    replacement.replace(log)
    assert fetcher.fetch().text == LINES_13 + LINES_13
    fetcher.begin()
    log.write_text(LINE_12, encoding="ascii")           # truncated in place, then written again
    assert fetcher.fetch().text == LINE_12


def test_a_command_gives_each_test_the_lines_it_did_not_print_before(tmp_path: Path) -> None:
    log = tmp_path / "remote.log"
    log.write_text(LINE_12, encoding="ascii")
    fetcher = KeylogFetcher(KeylogSource(command=tuple(shlex.split(_printer(log)))))
    fetcher.prime()                                     # written before the run: no test's
    with log.open("a", encoding="ascii") as handle:
        handle.write(LINES_13)
    got = fetcher.fetch()
    assert got.text == LINES_13 and got.secrets == 4 and got.problem is None


@pytest.mark.parametrize(("command", "expected"), [
    ([sys.executable, "-c", "import sys; sys.stderr.write('ssh: connect to host eng-build: refused\\n'); "
      "sys.exit(255)"], "exited with status 255: ssh: connect to host eng-build: refused"),
    ([sys.executable, "-c", "import time; time.sleep(30)"], "did not finish within 0.5 s"),
    (["/nonexistent/fetch-keys"], "cannot start"),
    ([sys.executable, "-c", "print('not a key log\\nCLIENT_RANDOM zz 00')"], "is garbled: none of its 2 lines"),
])
def test_a_fetch_that_fails_says_why_in_one_line(command: list[str], expected: str) -> None:
    got = KeylogFetcher(KeylogSource(command=tuple(command), timeout_s=0.5)).fetch()
    assert got.secrets == 0 and got.problem is not None and expected in got.problem and "\n" not in got.problem


# -- rig check ----------------------------------------------------------------------------------------
def _keylog_row(tmp_path: Path, tls: str) -> tuple[Status, str, str]:
    report = RigReport("bench")
    _check_keylog(load_rig(_rig(tmp_path, tls)), report)
    [row] = report.rows
    assert row.item == "TLS key log"
    return row.status, row.detail, row.fix


def test_rig_check_reports_the_key_log(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "sslkeys.log"
    log.write_text("# SSL/TLS secrets log file\n" + LINE_12 + LINES_13, encoding="ascii")
    channel = "keylog-check"
    with FakeEcu(channel), LoopbackTraffic():
        report = check_rig(_rig(tmp_path, f'[tls]\nkeylog = "{log}"\n', channel))
    assert report.ready, report.rows
    row = next(r for r in report.rows if r.item == "TLS key log")
    assert row.status is Status.OK and f"{log} readable: 5 TLS secrets in 5 lines" in row.detail
    status, detail, _ = _keylog_row(tmp_path, f"[tls]\nkeylog_command = {json.dumps(_printer(log))}\n")
    assert status is Status.OK and "ran: 5 TLS secrets in 5 lines" in detail


def test_rig_check_names_what_is_wrong(tmp_path: Path) -> None:
    status, detail, fix = _keylog_row(tmp_path, "")
    assert status is Status.WARN and "TLS flows will be inconclusive" in detail and "[tls] keylog" in fix
    status, detail, fix = _keylog_row(tmp_path, f'[tls]\nkeylog = "{tmp_path / "absent.log"}"\n')
    assert status is Status.FAIL and "absent.log not found" in detail and "SSLKEYLOGFILE" in fix
    garbled = tmp_path / "garbled.log"
    garbled.write_bytes(b"\x00\x01binary\nCLIENT_RANDOM 00 11\n")
    status, detail, fix = _keylog_row(tmp_path, f"[tls]\nkeylog_command = {json.dumps(_printer(garbled))}\n")
    assert status is Status.FAIL and "garbled" in detail and "CLIENT_RANDOM <64 hex> <96 hex>" in detail
    (tmp_path / "empty.log").write_text("", encoding="ascii")
    status, detail, _ = _keylog_row(tmp_path, f'[tls]\nkeylog = "{tmp_path / "empty.log"}"\n')
    assert status is Status.WARN and "no line yet" in detail
    failing = shlex.join([sys.executable, "-c", "import sys; sys.exit(3)"])
    status, detail, _ = _keylog_row(tmp_path, f"[tls]\nkeylog_command = {json.dumps(failing)}\n")
    assert status is Status.FAIL and "exited with status 3" in detail


# -- the evidence -------------------------------------------------------------------------------------
def test_the_bench_session_puts_the_tests_key_log_into_its_evidence(tmp_path: Path) -> None:
    log = tmp_path / "sslkeys.log"
    log.write_text(LINE_12, encoding="ascii")          # an earlier test's session
    channel = "keylog-session"
    session = RigSession(load_rig(_rig(tmp_path, f'[tls]\nkeylog = "{log}"\n', channel)), tmp_path / "evidence")
    with FakeEcu(channel):
        session.start()
        try:
            observation = session.observe(tmp_path / "evidence" / "one")
            observation.start()
            with log.open("a", encoding="ascii") as handle:
                handle.write(LINES_13)
            result = observation.stop()
            second = session.observe(tmp_path / "evidence" / "two")
            second.start()
            quiet = second.stop()
        finally:
            session.close()
    assert result.keylog == tmp_path / "evidence" / "one" / KEYLOG_NAME and result.keylog_problem is None
    assert result.keylog.read_text(encoding="ascii") == LINES_13
    assert quiet.keylog is None and quiet.keylog_problem == tmp_path / "evidence" / "two" / KEYLOG_PROBLEM_NAME
    assert "no line was written during the test" in quiet.keylog_problem.read_text(encoding="utf-8")


def _tls_upload(path: Path) -> Path:
    """A TLS session to the domestic TSP: its locality passes without keys, whatever it carries."""
    capture = CaptureBuilder()
    conversation = capture.tcp((VEHICLE, 42000), (CN_BROKER, 443))
    conversation.send(True, client_hello("tsp.example.cn", RANDOM))
    conversation.send(False, tls_record(22, b"\x02" + bytes(80)) + tls_record(20, b"\x01") + tls_record(23, bytes(90)))
    conversation.send(True, tls_record(20, b"\x01") + tls_record(23, bytes(300)))
    return capture.write(path, stats=(40, 0), rig=True)


def test_a_garbled_key_log_keeps_the_sessions_it_leaves_shut_from_a_pass(tmp_path: Path) -> None:
    policy = Policy(load_profile("cn"), parse_netmap(tomllib.loads(NETMAP), "netmap"))
    capture = _tls_upload(tmp_path / "c.pcapng")
    assert overall(check_locality(load_evidence(capture, None, None), policy)) is Verdict.PASS
    problem = "key log `ssh eng-build cat /var/log/sslkeys` is garbled: none of its 3 lines is an NSS key-log line"
    evidence = load_evidence(capture, None, None, keylog_problem=problem)
    [said] = evidence.completeness_problems()
    assert said == f"1 TLS session with application data cannot be decrypted: {problem}"
    findings = check_locality(evidence, policy)
    assert overall(findings) is Verdict.INCONCLUSIVE and any(problem in f.detail for f in findings)
    # the secrets it needed are there after all: nothing is missing, whatever else the log held
    keys = parse_keylog(LINE_12 + "garbage\n")
    assert not load_evidence(capture, None, keys, keylog_problem=problem).completeness_problems()
    # and a capture without TLS is not made incomplete by a key log nobody needed
    empty = CaptureBuilder().write(tmp_path / "none.pcapng", stats=(0, 0), rig=True)
    assert not load_evidence(empty, None, None, keylog_problem=problem).completeness_problems()
