"""`harness rig check`: a good bench rig is ready, every broken variant names its problem and its fix and
exits non-zero, the check only listens on CAN unless --active, and the virtual rig is brought up to be
checked. The bench is python-can's in-process virtual bus, a DoIP responder and traffic on loopback."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from harness.can import bus_errors
from harness.cli import main
from harness.rig.check import RigReport, Status, check_rig
from tests.data.bench_fakes import MAPPING, ROOT, BusSpy, DoipResponder, FakeEcu, LoopbackTraffic, bench_rig

_channels = itertools.count()


@pytest.fixture
def channel() -> str:
    return f"rig-check-{next(_channels)}"


def _row(report: RigReport, item: str) -> tuple[Status, str, str]:
    row = next((r for r in report.rows if r.item == item), None)
    assert row is not None, [r.item for r in report.rows]
    return row.status, row.detail, row.fix


def test_good_bench_rig_is_ready_and_nothing_was_sent(tmp_path: Path, channel: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    spy = BusSpy(channel)
    try:
        with DoipResponder() as doip, FakeEcu(channel) as ecu, LoopbackTraffic():
            rig = bench_rig(tmp_path, channel, doip.port)
            status = main(["rig", "check", str(rig)])
        out = capsys.readouterr().out
        assert status == 0, out
        for part in ("rig file", "DBC and mapping", "CAN interface", "CAN traffic", "capture interface",
                     "DoIP entity"):
            assert any(line.startswith(part) and " ok " in line for line in out.splitlines()), (part, out)
        assert "ready: the suites can run" in out and "VIN LHVTEST0000000001" in out
        # passive: the only frames on the bus are the ECU's own
        ecu_ids = {m.frame_id for m in ecu.codec.ecu_messages()}
        assert spy.ids() == ecu_ids
    finally:
        spy.close()


def test_active_check_plays_the_rest_of_the_vehicle(tmp_path: Path, channel: str) -> None:
    spy = BusSpy(channel)
    try:
        with FakeEcu(channel) as ecu, LoopbackTraffic():
            report = check_rig(bench_rig(tmp_path, channel), active=True)
        assert report.ready, report.rows
        simulated = {m.frame_id for m in ecu.codec.simulated_messages()}
        assert simulated <= spy.ids()
    finally:
        spy.close()


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_dbc_is_a_rig_file_problem(tmp_path: Path, channel: str,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    rig = bench_rig(tmp_path, channel, dbc=f'dbc = "{tmp_path / "absent.dbc"}"')
    assert main(["rig", "check", str(rig)]) == 2
    out = capsys.readouterr().out
    assert "rig file" in out and "FAIL" in out and "[can] dbc" in out and "absent.dbc" in out and "NOT READY" in out


def test_mapping_to_absent_signal(tmp_path: Path, channel: str) -> None:
    text = MAPPING.read_text(encoding="utf-8").replace('"VehicleMotion.Gear"', '"VehicleMotion.GearLever"')
    mapping = _write(tmp_path, "mapping.toml", text)
    report = check_rig(bench_rig(tmp_path, channel, mapping=f'mapping = "{mapping}"'))
    status, detail, fix = _row(report, "DBC and mapping")
    assert status is Status.FAIL and "vehicle.gear" in detail and "GearLever" in detail and str(mapping) in detail
    assert fix and not report.ready


def test_unknown_interface_name(tmp_path: Path, channel: str) -> None:
    report = check_rig(bench_rig(tmp_path, channel, interface='interface = "socketcann"'))
    status, detail, _ = _row(report, "rig file")
    assert status is Status.FAIL and "[can] interface" in detail and "socketcan" in detail and not report.loaded


def test_interface_that_does_not_open(tmp_path: Path) -> None:
    # this machine has no SocketCAN: can7 cannot open, as on a bench whose adapter is unplugged
    rig = bench_rig(tmp_path, "can7", interface='interface = "socketcan"')
    report = check_rig(rig)
    status, detail, fix = _row(report, "CAN interface")
    assert status is Status.FAIL and "can7" in detail and "plugged in" in fix and not report.ready


def test_capture_nic_absent(tmp_path: Path, channel: str) -> None:
    with FakeEcu(channel):
        report = check_rig(bench_rig(tmp_path, channel, capture='interface = "nosuchnic0"'))
    status, detail, fix = _row(report, "capture interface")
    assert status is Status.FAIL and "nosuchnic0" in detail and "mirror" in fix and not report.ready
    assert _row(report, "CAN traffic")[0] is Status.OK


def test_no_traffic_within_timeout(tmp_path: Path, channel: str) -> None:
    with LoopbackTraffic():
        report = check_rig(bench_rig(tmp_path, channel))
    status, detail, fix = _row(report, "CAN traffic")
    assert status is Status.FAIL and "no frame within 1 s" in detail and "--active" in fix and not report.ready


def test_ecu_that_sends_other_messages_than_the_dbc_says(tmp_path: Path, channel: str) -> None:
    with FakeEcu(channel, only={"OtaStatus"}), LoopbackTraffic():
        report = check_rig(bench_rig(tmp_path, channel))
    status, detail, _ = _row(report, "CAN traffic")
    assert status is Status.FAIL and "OtaNotice" in detail and "OtaStatus" not in detail.split("but not")[1]


def test_bus_off_is_reported(tmp_path: Path, channel: str) -> None:
    with FakeEcu(channel) as ecu, LoopbackTraffic():
        ecu.send_errors(bus_errors.BUS_OFF)
        report = check_rig(bench_rig(tmp_path, channel))
    status, detail, fix = _row(report, "CAN bus state")
    assert status is Status.FAIL and "bus-off" in detail and "termination" in fix and not report.ready


def test_doip_entity_silent_or_another_address(tmp_path: Path, channel: str) -> None:
    with DoipResponder(logical_address=0x0E81) as doip, FakeEcu(channel), LoopbackTraffic():
        wrong = check_rig(bench_rig(tmp_path, channel, doip.port))
        port = doip.port
    status, detail, fix = _row(wrong, "DoIP entity")
    assert status is Status.FAIL and "0x0e81" in detail and "logical_address = 0x0e81" in fix
    with FakeEcu(channel), LoopbackTraffic():
        silent = check_rig(bench_rig(tmp_path, channel, port))
    status, detail, _ = _row(silent, "DoIP entity")
    assert status is Status.FAIL and "no vehicle identification answer" in detail and not silent.ready


def test_virtual_rig_is_brought_up_and_checked() -> None:
    report = check_rig(ROOT / "rigs" / "virtual.toml")
    assert report.ready, [(r.item, r.status, r.detail) for r in report.rows]
    items = {r.item: r.status for r in report.rows}
    assert items["virtual rig"] is Status.OK and items["vECU"] is Status.OK
    assert items["CAN traffic"] is Status.OK and items["capture interface"] is Status.OK


def test_doip_address_behind_a_gateway_is_not_probed(tmp_path: Path, channel: str,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_send(*args: object) -> None:
        raise AssertionError("a DoIP probe was sent off the bench's link")

    monkeypatch.setattr("harness.rig.check.identify", must_not_send)
    rig = bench_rig(tmp_path, channel, 13400)
    rig.write_text(rig.read_text(encoding="utf-8").replace('address = "127.0.0.1"', 'address = "203.0.113.99"'),
                   encoding="utf-8")
    with FakeEcu(channel), LoopbackTraffic():
        report = check_rig(rig)
    status, detail, fix = _row(report, "DoIP entity")
    assert status is Status.FAIL and "not probed" in detail and "share a link" in fix
