"""Configuration inputs: rig files, netmaps inside them, the DBC and its signal mapping, profiles,
and dumpcap's statistics line. Every refusal is a ConfigError naming the file and the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.can.codec import VehicleCodec, load_dbc
from harness.errors import ConfigError
from harness.net.capture import parse_dumpcap_stats
from harness.policy.profile import available_profiles, load_profile
from harness.rig.config import Endpoint, load_rig

ROOT = Path(__file__).resolve().parents[1]
RIG = ROOT / "rigs" / "virtual.toml"
DBC = ROOT / "dbc" / "vehicle.dbc"
MAPPING = ROOT / "dbc" / "vehicle.signals.toml"


def _rig_variant(tmp_path: Path, old: str, new: str) -> Path:
    text = RIG.read_text(encoding="utf-8")
    assert old in text, old
    rig = tmp_path / "variant.toml"
    rig.write_text(text.replace(old, new).replace('"../dbc/', f'"{ROOT}/dbc/'), encoding="utf-8")
    return rig


def _refused(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_rig(path)
    assert type(caught.value) is ConfigError
    message = str(caught.value)
    assert str(path) in message, message
    return message


# --- rig files ------------------------------------------------------------------------------------


def test_virtual_rig_loads() -> None:
    rig = load_rig(RIG)
    assert rig.name == "virtual" and rig.kind == "virtual" and rig.is_virtual
    assert rig.time_scale == 100.0
    assert rig.can.dbc == DBC and rig.can.mapping == MAPPING and rig.can.bitrate == 500_000
    assert rig.capture.interface == "up0" and rig.capture.backend == "dumpcap"
    assert rig.vecu is not None
    assert rig.vecu.vin == "LHVTEST0000000001" and rig.vecu.software_version == (1, 4, 0)
    assert rig.vecu.endpoints["gbt32960"] == Endpoint("203.0.113.20", 32960)
    assert rig.netmap.is_vehicle("198.51.100.2") and not rig.netmap.is_vehicle("198.51.100.1")
    assert rig.netmap.region_of("203.0.113.20") == "CN"
    assert rig.netmap.region_of("203.0.113.200") == "EU"
    assert rig.netmap.region_of("192.0.2.1") == "unknown"
    assert {p.name for p in rig.netmap.purposes_of("203.0.113.20")} == {"national-platform-reporting"}


def test_rig_loads_from_another_directory_with_absolute_paths(tmp_path: Path) -> None:
    rig = load_rig(_rig_variant(tmp_path, 'name = "virtual"', 'name = "copy"'))
    assert rig.name == "copy" and rig.can.dbc == DBC


def test_missing_rig_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="absent.toml"):
        load_rig(tmp_path / "absent.toml")


def test_missing_rig_table(tmp_path: Path) -> None:
    message = _refused(_rig_variant(tmp_path, "[rig]\n", ""))
    assert "rig: missing table" in message


def test_unknown_kind(tmp_path: Path) -> None:
    message = _refused(_rig_variant(tmp_path, 'kind = "virtual"', 'kind = "foo"'))
    assert "[rig] kind" in message and "'foo'" in message


def test_bench_must_run_in_real_time(tmp_path: Path) -> None:
    message = _refused(_rig_variant(tmp_path, 'kind = "virtual"', 'kind = "bench"'))
    assert "[rig] time_scale" in message


@pytest.mark.parametrize("vin", ["SHORT", "LHVTEST00000000012", "LHVTEST000000000-"])
def test_bad_vin(tmp_path: Path, vin: str) -> None:
    message = _refused(_rig_variant(tmp_path, 'vin = "LHVTEST0000000001"', f'vin = "{vin}"'))
    assert "[vecu] vin" in message and "17" in message and vin in message


@pytest.mark.parametrize("value", ["203.0.113.20", "203.0.113.20:", "203.0.113.20:70000", "cloud:32960"])
def test_endpoint_without_a_usable_port(tmp_path: Path, value: str) -> None:
    message = _refused(_rig_variant(tmp_path, '"203.0.113.20:32960"', f'"{value}"'))
    assert "[vecu.endpoints] gbt32960" in message and "ADDRESS:PORT" in message


def test_missing_required_endpoint(tmp_path: Path) -> None:
    message = _refused(_rig_variant(tmp_path, 'mqtt = "203.0.113.10:8883"', ""))
    assert "[vecu.endpoints] mqtt" in message


def test_netmap_without_vehicle(tmp_path: Path) -> None:
    vehicle = '[netmap.vehicle]\naddresses = ["198.51.100.2", "2001:db8:100::2"]\n'
    message = _refused(_rig_variant(tmp_path, vehicle, ""))
    assert "[netmap]" in message and "[vehicle] addresses" in message


def test_netmap_vehicle_address_not_an_address(tmp_path: Path) -> None:
    addresses = 'addresses = ["198.51.100.2", "2001:db8:100::2"]'
    message = _refused(_rig_variant(tmp_path, addresses, 'addresses = ["car.local"]'))
    assert "[vehicle] addresses" in message and "car.local" in message


def test_unknown_category_in_a_purpose(tmp_path: Path) -> None:
    message = _refused(_rig_variant(tmp_path, 'categories = ["vin", "ota"]', 'categories = ["vin", "telepathy"]'))
    assert "[[purpose]] categories" in message and "telepathy" in message


def test_bad_endpoint_cidr(tmp_path: Path) -> None:
    message = _refused(_rig_variant(tmp_path, 'cidr = "203.0.113.0/25"', 'cidr = "203.0.113.0/33"'))
    assert "[[endpoint]] cidr" in message


def test_dbc_file_missing(tmp_path: Path) -> None:
    message = _refused(_rig_variant(tmp_path, 'dbc = "../dbc/vehicle.dbc"', 'dbc = "nowhere/vehicle.dbc"'))
    assert "[can] dbc" in message and "not found" in message


def test_dbc_key_missing(tmp_path: Path) -> None:
    message = _refused(_rig_variant(tmp_path, 'dbc = "../dbc/vehicle.dbc"\n', ""))
    assert "[can] dbc" in message and "missing" in message


def test_wrong_type(tmp_path: Path) -> None:
    message = _refused(_rig_variant(tmp_path, "bitrate = 500000", 'bitrate = "fast"'))
    assert "[can] bitrate" in message and "int" in message


def test_invalid_toml(tmp_path: Path) -> None:
    message = _refused(_rig_variant(tmp_path, "[rig]", "[rig"))
    assert "not valid TOML" in message and "line 3" in message


# --- DBC and signal mapping -----------------------------------------------------------------------


def _mapping(tmp_path: Path, old: str, new: str) -> Path:
    text = MAPPING.read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "mapping.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_mapping_naming_a_missing_message(tmp_path: Path) -> None:
    path = _mapping(tmp_path, '"VehicleMotion.VehicleSpeed"', '"NoSuchMessage.VehicleSpeed"')
    with pytest.raises(ConfigError) as caught:
        VehicleCodec.load(DBC, path)
    message = str(caught.value)
    assert str(path) in message and "vehicle.speed_kph" in message and "NoSuchMessage" in message


def test_mapping_naming_a_missing_signal(tmp_path: Path) -> None:
    path = _mapping(tmp_path, '"VehicleMotion.VehicleSpeed"', '"VehicleMotion.NoSuchSignal"')
    with pytest.raises(ConfigError) as caught:
        VehicleCodec.load(DBC, path)
    message = str(caught.value)
    assert str(path) in message and "vehicle.speed_kph" in message and "NoSuchSignal" in message


def test_mapping_with_missing_counter_signal(tmp_path: Path) -> None:
    path = _mapping(tmp_path, 'VehicleMotion = "MotionCounter"', 'VehicleMotion = "NoCounter"')
    with pytest.raises(ConfigError, match=r"\[counters\] VehicleMotion.*NoCounter"):
        VehicleCodec.load(DBC, path)


def test_mapping_with_unknown_ecu_node(tmp_path: Path) -> None:
    path = _mapping(tmp_path, 'ecu = "TBOX"', 'ecu = "HEADUNIT"')
    with pytest.raises(ConfigError, match=r"\[nodes\] ecu.*HEADUNIT"):
        VehicleCodec.load(DBC, path)


@pytest.mark.parametrize("content", [b"BO_ this is not a DBC\n", b"\x00\xff\xfe garbage \x81" * 40, b""])
def test_garbage_dbc_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.dbc"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_dbc(path)
    assert type(caught.value) is ConfigError
    assert str(path) in str(caught.value) and "Traceback" not in str(caught.value)


def test_missing_dbc_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_dbc(tmp_path / "absent.dbc")


def test_codec_round_trips_vehicle_motion() -> None:
    codec = VehicleCodec.load(DBC, MAPPING)
    message = codec.message("VehicleMotion")
    values = codec.initial_values(message)
    assert set(values) == {s.name for s in message.signals}
    values.update(VehicleSpeed=88.5, Gear="D", ParkingBrake="Released", Ignition="On", MotionCounter=11)
    frame = codec.encode(message, values)
    assert frame.arbitration_id == 288 and len(frame.data) == 8
    name, decoded = codec.decode(frame.arbitration_id, bytes(frame.data))
    assert name == "VehicleMotion"
    assert decoded["vehicle.speed_kph"] == pytest.approx(88.5)
    assert decoded["vehicle.gear"] == "D" and decoded["vehicle.ignition"] == "On"
    assert decoded["counter.VehicleMotion"] == 11 and isinstance(decoded["counter.VehicleMotion"], int)
    assert codec.counter_modulus("VehicleMotion") == 16


def test_codec_groups_abstract_values_and_ignores_unknown_frames() -> None:
    codec = VehicleCodec.load(DBC, MAPPING)
    assert codec.to_dbc({"vehicle.speed_kph": 10.0, "ota.status.state": "Installing"}) == {
        "VehicleMotion": {"VehicleSpeed": 10.0}, "OtaStatus": {"OtaState": "Installing"}}
    assert codec.decode(0x555, b"\x00" * 8) is None
    assert codec.decode(288, b"\x00") is None   # truncated frame
    with pytest.raises(ConfigError, match="no.such"):
        codec.ref("no.such")


# --- profiles -------------------------------------------------------------------------------------


def test_unknown_profile_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        load_profile("xx")
    message = str(caught.value)
    assert "'xx'" in message
    assert {"cn", "eu"} <= set(available_profiles())
    assert all(name in message for name in available_profiles())


def test_profiles_define_the_same_rules() -> None:
    cn, eu = load_profile("cn"), load_profile("eu")
    assert set(cn.rules) == set(eu.rules)
    assert {"locality.regulated-data", "ota.consent"} <= set(cn.rules)
    assert cn.inside("CN") and not cn.inside("EU") and eu.inside("EU") and not eu.inside("CN")
    assert all(rule.clauses for rule in [*cn.rules.values(), *eu.rules.values()])


def test_profile_by_path_and_malformed_profile(tmp_path: Path) -> None:
    copy = tmp_path / "mine.toml"
    shutil.copy(ROOT / "harness" / "policy" / "profiles" / "eu.toml", copy)
    assert load_profile(copy).name == "eu"
    broken = tmp_path / "broken.toml"
    broken.write_text('[profile]\nname = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="broken.toml.*malformed profile"):
        load_profile(broken)


# --- dumpcap statistics ---------------------------------------------------------------------------

STDERR = """Capturing on 'up0'
File: /tmp/run/capture.pcapng
Packets captured: 1234
Packets received/dropped on interface 'up0': 1234/0 (pcap:0/dumpcap:0/flushed:0/ps_ifdrop:0) (100.0%)
"""


def test_dumpcap_stats_complete() -> None:
    stats = parse_dumpcap_stats(STDERR)
    assert stats.reported and stats.complete
    assert (stats.received, stats.dropped) == (1234, 0)
    assert stats.to_dict()["complete"] is True


def test_dumpcap_stats_with_drops_on_two_interfaces() -> None:
    text = STDERR.replace("1234/0 (pcap:0", "1000/3 (pcap:3") + (
        "Packets received/dropped on interface 'can0': 50/0 (pcap:0/dumpcap:0/flushed:0/ps_ifdrop:2) (100.0%)\n")
    stats = parse_dumpcap_stats(text)
    assert stats.reported and not stats.complete
    assert (stats.received, stats.dropped) == (1050, 5)


def test_dumpcap_flushed_packets_are_not_counted_twice() -> None:
    line = ("Packets received/dropped on interface 'up0': 100/5 (pcap:2/dumpcap:1/flushed:2/ps_ifdrop:0) "
            "(95.2%)\n")
    assert parse_dumpcap_stats(line).dropped == 5


@pytest.mark.parametrize("text", ["", "dumpcap: The capture session could not be initiated\n", "garbage\x00\n"])
def test_dumpcap_stats_missing(text: str) -> None:
    stats = parse_dumpcap_stats(text)
    assert stats.reported is False and not stats.complete
    assert "no statistics" in stats.message
    if text.strip():
        assert text.strip().splitlines()[-1] in stats.message
