"""The signal mapping on a DBC the harness did not define (tests/data/foreign: another maker's names,
ids, byte order, units, value names and multiplexing): values cross it both ways, and every scaling or
naming mistake in a mapping is refused on load with the file, the key and the fix."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.can.codec import VehicleCodec
from harness.can.mapping import vocabulary
from tests.config_errors import assert_refused

FOREIGN = Path(__file__).parent / "data" / "foreign"
DBC, MAPPING = FOREIGN / "vehicle_b.dbc", FOREIGN / "vehicle_b.mapping.toml"
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def codec() -> VehicleCodec:
    return VehicleCodec.load(DBC, MAPPING)


def _roundtrip(codec: VehicleCodec, values: dict[str, object]) -> dict[str, object]:
    """Encode abstract values as the harness's transmitter would and decode the frames back."""
    decoded: dict[str, object] = {}
    for message_name, signals in codec.to_dbc(values).items():  # type: ignore[arg-type]
        message = codec.message(message_name)
        frame = codec.encode(message, {**codec.initial_values(message), **signals})
        result = codec.decode(frame.arbitration_id, bytes(frame.data))
        assert result is not None and result[0] == message_name
        decoded.update(result[1])
    return decoded


def test_units_convert_both_ways(codec: VehicleCodec) -> None:
    values = {"vehicle.speed_kph": 50.0, "battery.soc_pct": 80.0, "battery.usable_capacity_kwh": 75.0,
              "gnss.heading_deg": 270.0, "ota.notice.duration_min": 5, "ota.action.postpone_min": 30,
              "ota.status.progress_pct": 37, "limits.max_power_kw": 150, "time.vehicle_ms": 1_764_000_123_456}
    dbc = codec.to_dbc(values)
    assert dbc["ESC_VehSpd"]["ESC_VehSpd_mps"] == pytest.approx(50 / 3.6)
    assert dbc["BMS_PackStatus"]["BMS_SOC"] == pytest.approx(0.8)
    assert dbc["BMS_PackStatus"]["BMS_UsableEnergy"] == pytest.approx(75_000)
    assert dbc["GPS_Status"]["GPS_Heading"] == pytest.approx(math.radians(270))
    assert dbc["TCU_UpdNotice"]["UpdNotice_DurSec"] == pytest.approx(300)
    back = _roundtrip(codec, values)
    assert back["vehicle.speed_kph"] == pytest.approx(50.0, abs=0.04)  # OEM-B resolves 0.01 m/s
    assert back["battery.soc_pct"] == pytest.approx(80.0)
    assert back["gnss.heading_deg"] == pytest.approx(270.0, abs=0.01)
    # integer signals stay integers through the float arithmetic of a conversion
    assert back["ota.notice.duration_min"] == 5 and back["ota.action.postpone_min"] == 30
    assert back["ota.status.progress_pct"] == 37 and back["time.vehicle_ms"] == 1_764_000_123_456


def test_value_names_translate_both_ways(codec: VehicleCodec) -> None:
    dbc = codec.to_dbc({"vehicle.gear": "P", "ota.inhibit.reason": "OtaInstallation", "consent.location": "On"})
    assert dbc["ESC_VehSpd"]["ESC_GearPos"] == "PARK" and dbc["HU_PrivacyCfg"]["HU_LocShare"] == "ENABLED"
    assert dbc["TCU_DrvInhibit"]["DrvInh_Reason"] == "OTA_INSTALL"
    for name in ("vehicle.gear", "ota.status.state", "ota.action.action", "battery.charging_state",
                 "ota.status.fail_reason", "consent.voice"):
        for value in vocabulary()[name].choices or ():
            assert _roundtrip(codec, {name: value})[name] == value, (name, value)
    # the raw value differs too: PARK is 1 on OEM-B's bus where the harness's own DBC sends 0
    message = codec.message("ESC_VehSpd")
    park = codec.to_dbc({"vehicle.gear": "P"})["ESC_VehSpd"]
    frame = codec.encode(message, {**codec.initial_values(message), **park})
    assert message.decode(bytes(frame.data), decode_choices=False)["ESC_GearPos"] == 1


def test_multiplexed_notice_pages_and_extended_ids(codec: VehicleCodec) -> None:
    notice = {"ota.notice.campaign_id": 4201, "ota.notice.duration_min": 5, "ota.notice.version_major": 1,
              "ota.notice.version_minor": 5, "ota.notice.version_patch": 2, "ota.notice.purpose": "Security",
              "ota.notice.unavailable": 3, "ota.notice.cautions": 1, "ota.notice.digest": 0xDEADBEEF}
    seen: dict[str, object] = {}
    for page in (0, 1, 2):  # the vECU numbers its pages; OEM-B selects them by name (IDENT, SCOPE, CHECK)
        seen.update(_roundtrip(codec, {**notice, "ota.notice.page": page}))
    assert {k: seen[k] for k in notice} == notice
    gps = codec.message("GPS_Position")
    assert gps.is_extended_frame
    back = _roundtrip(codec, {"gnss.latitude_deg": 31.2304, "gnss.longitude_deg": 121.4737})
    assert back["gnss.latitude_deg"] == pytest.approx(31.2304, abs=1e-6)


def test_reference_mapping_is_the_identity() -> None:
    reference = VehicleCodec.load(ROOT / "dbc" / "vehicle.dbc", ROOT / "dbc" / "vehicle.signals.toml")
    assert all(t.identity for t in reference.translations.values())
    assert set(reference.signals) == set(vocabulary())


BROKEN = [
    ('"vehicle.speed_kph" = { signal = "ESC_VehSpd.ESC_VehSpd_mps", unit = "m/s" }',
     '"vehicle.speed_kph" = "ESC_VehSpd.ESC_VehSpd_mps"',
     ["[signals] vehicle.speed_kph", "'m/s'", "'km/h'", "declare unit = 'm/s'"]),
    ('{ signal = "BMS_PackStatus.BMS_SOC", unit = "fraction" }', '"BMS_PackStatus.BMS_SOC"',
     ["[signals] battery.soc_pct", "a scale is missing", "fraction"]),
    ('signal = "ESC_VehSpd.ESC_VehSpd_mps", unit = "m/s"', 'signal = "ESC_VehSpd.ESC_VehSpd_mps", unit = "mph"',
     ["[signals] vehicle.speed_kph", "unit = 'mph'", "the DBC says"]),
    (', SNA = "INVALID" }', " }", ["[signals] vehicle.gear", "'SNA' has no counterpart", "PARK"]),
    ('P = "PARK"', 'P = "PARKING"', ["vehicle.gear", "no value named 'PARKING'", "it has: PARK"]),
    ('R = "REVERSE"', 'R = "PARK"', ["vehicle.gear", "both map to 'PARK'"]),
    ('"ota.status.campaign_id" = "TCU_UpdStatus.UpdSt_CampId"', '"ota.status.campaign_id" = "TCU_UpdStatus.CampId"',
     ["[signals] ota.status.campaign_id", "has no signal 'CampId'", "UpdSt_CampId"]),
    ('"gnss.altitude_m" =', '"gnss.altitude_ft" =', ["[signals] gnss.altitude_ft", "not a signal of the harness"]),
    ('{ signal = "HU_UpdAction.UpdAction_DelaySec", unit = "s" }',
     '{ signal = "HU_UpdAction.UpdAction_DelaySec", scale = 60 }', ["unknown key(s) scale"]),
    ('{ signal = "BMS_PackStatus.BMS_PlugSt", values = { 0 = "UNPLUGGED", 1 = "PLUGGED" } }',
     '"BMS_PackStatus.BMS_PlugSt"', ["battery.cable_connected", "reads numbers", "values = {"]),
    ('ecu = "TCU"', 'ecu = "TBOX"', ["[nodes] ecu", "no node 'TBOX'", "TCU"]),
]


@pytest.mark.parametrize(("old", "new", "expected"), BROKEN, ids=[e[2][0] for e in BROKEN])
def test_broken_mapping_is_refused_with_key_and_fix(tmp_path: Path, old: str, new: str, expected: list[str]) -> None:
    text = MAPPING.read_text(encoding="utf-8")
    assert old in text
    broken = tmp_path / "broken.mapping.toml"
    broken.write_text(text.replace(old, new, 1), encoding="utf-8")
    assert_refused(lambda: VehicleCodec.load(DBC, broken), broken, expected)


def test_explicit_factor_for_a_unit_the_harness_does_not_know(tmp_path: Path) -> None:
    text = MAPPING.read_text(encoding="utf-8").replace('signal = "ESC_VehSpd.ESC_VehSpd_mps", unit = "m/s"',
                                                       'signal = "ESC_VehSpd.ESC_VehSpd_mps", factor = 3.6')
    mapping = tmp_path / "factor.mapping.toml"
    mapping.write_text(text, encoding="utf-8")
    assert VehicleCodec.load(DBC, mapping).to_dbc({"vehicle.speed_kph": 36.0})["ESC_VehSpd"]["ESC_VehSpd_mps"] == \
        pytest.approx(10.0)
