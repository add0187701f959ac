"""Bench rig files: the examples in rigs/ load as documented, a rig can extend another, and every
mistake in the bench tables is refused on load with the file, the key and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ConfigError
from harness.rig.config import load_rig, rig_tables
from tests.config_errors import assert_refused

ROOT = Path(__file__).resolve().parent.parent
RIGS = ROOT / "rigs"


@pytest.mark.parametrize(("name", "interface", "channel"), [
    ("socketcan", "socketcan", "can0"), ("pcan", "pcan", "PCAN_USBBUS1"), ("vector", "vector", "0"),
    ("doip", "slcan", "/dev/ttyACM0"), ("labgrid", "socketcan", "can0")])
def test_bench_examples_load(name: str, interface: str, channel: str) -> None:
    rig = load_rig(RIGS / f"{name}.toml")
    assert rig.kind == "bench" and not rig.is_virtual and rig.vecu is None and rig.time_scale == 1.0
    assert (rig.can.interface, rig.can.channel) == (interface, channel)
    assert rig.can.dbc.is_file() and rig.can.mapping is not None and rig.can.mapping.is_file()
    assert rig.netmap.is_vehicle("198.51.100.2")


def test_bench_example_details() -> None:
    vector = load_rig(RIGS / "vector.toml")
    assert vector.can.fd and vector.can.data_bitrate == 2_000_000 and vector.can.options == {"app_name": "harness"}
    doip = load_rig(RIGS / "doip.toml").doip
    assert doip is not None and (doip.address, doip.port, doip.logical_address, doip.tester_address) == \
        ("198.51.100.2", 13400, 0x0E80, 0x0E00)
    labgrid = load_rig(RIGS / "labgrid.toml").labgrid
    assert labgrid is not None and (labgrid.place, labgrid.can, labgrid.network, labgrid.power) == \
        ("ecu-bench-7", "can", "mirror", "pdu")
    assert load_rig(RIGS / "labgrid.toml").timeouts.ecu_alive_s == 20.0


def _variant(tmp_path: Path, old: str, new: str, base: str = "socketcan.toml") -> Path:
    text = (RIGS / base).read_text(encoding="utf-8")
    assert old in text, old
    path = tmp_path / "variant.toml"
    path.write_text(text.replace(old, new, 1).replace('"../dbc/', f'"{ROOT}/dbc/')
                    .replace('"bench-netmap.toml"', f'"{RIGS}/bench-netmap.toml"'), encoding="utf-8")
    return path


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('bitrate = 500000', 'bitrate = 500000\ndata_bitrate = 2000000',
     ["[can] data_bitrate", "set fd = true"]),
    ('bitrate = 500000', 'bitrate = 500000\nfd = true\ndata_bitrate = 250000', ["[can] data_bitrate", "at least"]),
    ('interface = "socketcan"', 'interface = "kvasr"', ["[can] interface", "no interface 'kvasr'"]),
    ('interface = "eth1"', 'interface = "eth 1"', ["[capture] interface", "not a network interface name"]),
    ('logical_address = 0x0E80', 'logical_address = 0x1FFFF', ["[doip] logical_address", "16 bits"]),
    ('address = "198.51.100.2"\nlogical', 'address = "ecu.local"\nlogical', ["[doip] address", "not an IP"]),
    ('doip_s = 2.0', 'doip_s = 2.0\nboot_s = 5', ["[timeouts] boot_s", "unknown timeout"]),
    ('can_traffic_s = 3.0', 'can_traffic_s = 0', ["[timeouts] can_traffic_s", "between 0 and 600"]),
    ('kind = "bench"', 'kind = "bench"\ntime_scale = 100', ["[rig] time_scale", "1 on a bench"]),
])
def test_bench_mistakes_name_the_key_and_the_fix(tmp_path: Path, old: str, new: str, expected: list[str]) -> None:
    path = _variant(tmp_path, old, new)
    assert_refused(lambda: load_rig(path), path, expected)


def test_labgrid_table_is_checked(tmp_path: Path) -> None:
    path = _variant(tmp_path, 'coordinator = "127.0.0.1:20408"', 'coordinator = "lab-coordinator"', "labgrid.toml")
    with pytest.raises(ConfigError, match=r"\[labgrid\] coordinator: expected HOST:PORT"):
        load_rig(path)


def test_a_rig_extends_another(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    child = tmp_path / "sub" / "bench-fd.toml"
    child.write_text(f'[rig]\nextends = "{RIGS / "socketcan.toml"}"\nname = "bench-fd"\n'
                     '[can]\nchannel = "can1"\nfd = true\n', encoding="utf-8")
    rig = load_rig(child)
    # the child's keys win, the rest is the parent's, and the parent's relative paths stay the parent's
    assert (rig.name, rig.can.channel, rig.can.fd, rig.can.interface) == ("bench-fd", "can1", True, "socketcan")
    assert rig.can.dbc == (ROOT / "dbc" / "vehicle.dbc").resolve() and rig.doip is not None
    assert rig_tables(child)["netmap"] == str((RIGS / "bench-netmap.toml").resolve())
    loop = tmp_path / "loop.toml"
    loop.write_text(f'[rig]\nextends = "{loop}"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="extends this file again"):
        load_rig(loop)
