"""Tests for the GB/T 32960.3-2016 layers, builders, stream splitter and decoder."""

from __future__ import annotations

import struct
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.packet import Raw

from harness.net.gbt32960 import (
    GBT32960,
    Alarms,
    DecodedFrame,
    Extremes,
    GBT32960Login,
    GBT32960Logout,
    GBT32960Realtime,
    Location,
    MotorData,
    VehicleData,
    bcc,
    build_heartbeat,
    build_login,
    build_logout,
    build_realtime,
    build_response,
    decode_frame,
    iter_frames,
    looks_like_gbt32960,
)
from harness.net.gbt32960_units import (
    GBT32960CellVoltages,
    GBT32960Location,
    GBT32960MotorEntry,
    GBT32960Motors,
    GBT32960ProbeTemperatures,
    GBT32960StorageTemperatures,
    GBT32960StorageVoltages,
)

VIN = "LSVAU2180N2183294"
ICCID = "89860012345678901234"
WHEN = datetime(2024, 5, 6, 7, 8, 9)
VEHICLE = VehicleData(
    vehicle_state=0x01, charging_state=0x03, mode=0x01, speed_kmh=123.4, odometer_km=98765.4, voltage_v=350.2,
    current_a=-12.3, soc_pct=80, dcdc_state=0x01, gear=0x0E, insulation_kohm=5000, accelerator_pct=30,
    brake_pct=0,
)
MOTORS = (
    MotorData(serial=1, state=0x01, controller_temp_c=45, speed_rpm=3500, torque_nm=120.5, temp_c=60,
              controller_voltage_v=351.0, controller_current_a=85.2),
    MotorData(serial=2, state=0x02, controller_temp_c=-10, speed_rpm=-1234, torque_nm=-55.5, temp_c=-40,
              controller_voltage_v=0.0, controller_current_a=-3.2),
)
EXTREMES = Extremes(
    max_voltage_subsystem=1, max_voltage_cell=17, max_cell_voltage_v=4.123, min_voltage_subsystem=2,
    min_voltage_cell=5, min_cell_voltage_v=3.001, max_temp_subsystem=1, max_temp_probe=3, max_temp_c=35,
    min_temp_subsystem=2, min_temp_probe=8, min_temp_c=-22,
)
ALARMS = Alarms(level=2, general_flags=(1 << 0) | (1 << 11) | (1 << 18), storage_faults=(0x01020304, 7),
                motor_faults=(), engine_faults=(0xDEADBEEF,), other_faults=(1, 2, 3))


def full_report(location: Location, reissue: bool = False) -> bytes:
    return build_realtime(VIN, WHEN, vehicle=VEHICLE, location=location, motors=MOTORS, extremes=EXTREMES,
                          alarms=ALARMS, reissue=reissue)


def xor_all(data: bytes) -> int:
    """Independent BCC for the tests, written out rather than taken from the module."""
    check = 0
    for byte in data:
        check ^= byte
    return check


# ---------------------------------------------------------------- round trips


def test_login_round_trip() -> None:
    raw = build_login(VIN, WHEN, 7, ICCID, storage_codes=[b"PACK-A01", b"PACK-B02"])
    decoded = decode_frame(raw)
    assert decoded.error is None and decoded.bcc_ok
    assert (decoded.command, decoded.command_name, decoded.response_flag) == (0x01, "vehicle login", 0xFE)
    assert decoded.vin == VIN and decoded.encryption == 0x01 and decoded.collection_time == WHEN
    login = GBT32960(raw)[GBT32960Login]
    assert (login.serial, login.iccid) == (7, ICCID.encode())
    assert (login.storage_count, login.storage_code_len) == (2, 8)
    assert login.storage_codes == [b"PACK-A01", b"PACK-B02"]
    assert len(raw) == 24 + 6 + 2 + 20 + 1 + 1 + 16 + 1
    assert bytes(GBT32960(raw)) == raw  # a dissected frame rebuilds byte for byte


def test_login_with_empty_storage_codes_decodes() -> None:
    """n energy-storage subsystems whose code length m is 0 carry 0 bytes of codes: a legal login."""
    raw = build_login(VIN, WHEN, 3, ICCID, storage_codes=[b"", b"", b""])
    decoded = decode_frame(raw)
    assert decoded.bcc_ok and not decoded.partial and decoded.error is None
    login = GBT32960(raw)[GBT32960Login]
    assert (login.storage_count, login.storage_code_len, login.storage_codes) == (3, 0, [b"", b"", b""])


def test_login_with_fewer_codes_than_declared_is_partial() -> None:
    raw = bytearray(build_login(VIN, WHEN, 3, ICCID, storage_codes=[b"AB", b"CD"]))
    raw[-7] = 3  # declares three 2-byte codes where two follow
    raw[-1] = bcc(bytes(raw[2:-1]))
    decoded = decode_frame(bytes(raw))
    assert decoded.bcc_ok and decoded.partial


@pytest.mark.parametrize(
    ("latitude", "longitude", "status"),
    [
        (31.230416, 121.473701, 0b000),  # Shanghai: north, east
        (-33.86882, 151.209296, 0b010),  # Sydney: south, east
        (40.416775, -3.70379, 0b100),  # Madrid: north, west
        (-34.603722, -58.381592, 0b110),  # Buenos Aires: south, west
    ],
)
def test_realtime_round_trip_in_every_hemisphere(latitude: float, longitude: float, status: int) -> None:
    raw = full_report(Location(latitude, longitude))
    decoded = decode_frame(raw)
    assert decoded.error is None and decoded.bcc_ok and not decoded.partial
    assert decoded.command == 0x02 and decoded.collection_time == WHEN
    assert decoded.info_unit_types == (0x01, 0x02, 0x05, 0x06, 0x07)
    assert decoded.location == Location(latitude, longitude, valid=True)
    assert decoded.vehicle == VEHICLE
    assert decoded.motors == MOTORS
    assert decoded.extremes == EXTREMES
    assert decoded.alarms == ALARMS
    # On the wire the hemispheres are status bits and the coordinates absolute values.
    unit = GBT32960(raw)[GBT32960Location]
    assert int(unit.status) == status
    assert unit.latitude == abs(latitude) and unit.longitude == abs(longitude)


def test_invalid_fix_and_reissue() -> None:
    raw = full_report(Location(0.0, 0.0, valid=False), reissue=True)
    decoded = decode_frame(raw)
    assert decoded.command == 0x03 and decoded.command_name == "re-issued report"
    assert decoded.location == Location(0.0, 0.0, valid=False)
    assert isinstance(GBT32960(raw).payload, GBT32960Realtime)  # 0x03 shares the real-time layout


@settings(max_examples=200, deadline=None)
@given(st.integers(-90_000_000, 90_000_000), st.integers(-180_000_000, 180_000_000), st.booleans())
def test_location_round_trip_property(lat_e6: int, lon_e6: int, valid: bool) -> None:
    location = Location(lat_e6 / 1e6, lon_e6 / 1e6, valid)
    assert decode_frame(build_realtime(VIN, WHEN, location=location)).location == location


def test_storage_voltage_and_temperature_units() -> None:
    voltages = GBT32960StorageVoltages(subsystems=[GBT32960CellVoltages(
        subsystem=1, voltage_v=396.8, current_a=-20.5, total_cells=120, frame_start_cell=1,
        cell_voltages_v=[3.301 + i / 1000 for i in range(120)])])  # more than scapy's default list cap of 100
    temps = GBT32960StorageTemperatures(subsystems=[
        GBT32960ProbeTemperatures(subsystem=1, temperatures_c=[25, -10, 60]),
        GBT32960ProbeTemperatures(subsystem=2, temperatures_c=[-40]),
    ])
    raw = build_realtime(VIN, WHEN, vehicle=VEHICLE, extra_units=[voltages, temps])
    decoded = decode_frame(raw)
    assert decoded.error is None and not decoded.partial
    assert decoded.info_unit_types == (0x01, 0x08, 0x09)
    report = GBT32960(raw)[GBT32960Realtime]
    cells = report.units[1].subsystems[0]
    assert (cells.voltage_v, cells.current_a, cells.total_cells) == (396.8, -20.5, 120)
    assert cells.cell_voltages_v_count == 120
    assert cells.cell_voltages_v[0] == 3.301 and cells.cell_voltages_v[-1] == 3.42
    probes = report.units[2].subsystems
    assert [p.temperatures_c for p in probes] == [[25, -10, 60], [-40]]
    assert probes[0].temperatures_c_count == 3


def test_logout_round_trip() -> None:
    raw = build_logout(VIN, WHEN, 7)
    decoded = decode_frame(raw)
    assert decoded.error is None and decoded.command_name == "vehicle logout"
    assert decoded.collection_time == WHEN
    assert GBT32960(raw)[GBT32960Logout].serial == 7
    assert raw[22:24] == b"\x00\x08"


def test_heartbeat_matches_the_standard_layout() -> None:
    body = b"\x07\xfe" + VIN.encode() + b"\x01\x00\x00"
    assert build_heartbeat(VIN) == b"##" + body + bytes([xor_all(body)])
    decoded = decode_frame(build_heartbeat(VIN))
    assert decoded.error is None and decoded.command_name == "heartbeat" and decoded.collection_time is None


def test_aware_datetimes_are_written_in_beijing_time() -> None:
    utc = datetime(2024, 5, 5, 23, 8, 9, tzinfo=UTC)
    assert decode_frame(build_logout(VIN, utc, 1)).collection_time == WHEN
    beijing = WHEN.replace(tzinfo=timezone(timedelta(hours=8)))
    assert decode_frame(build_logout(VIN, beijing, 1)).collection_time == WHEN


def test_responses() -> None:
    report = full_report(Location(31.2, 121.4))
    answer = build_response(report)
    assert answer[2:4] == b"\x02\x01" and answer[4:21] == VIN.encode()
    assert answer[22:24] == b"\x00\x06"
    assert answer[24:30] == bytes((24, 5, 6, 7, 8, 9))  # the collection time only
    assert decode_frame(answer).error is None and decode_frame(answer).collection_time == WHEN

    login = build_login(VIN, WHEN, 3, ICCID)
    refused = build_response(GBT32960(login), flag=0x03)
    assert refused[3] == 0x03 and refused[24:-1] == login[24:-1]  # login data echoed
    assert decode_frame(refused).response_flag == 0x03

    beat = decode_frame(build_response(build_heartbeat(VIN)))
    assert (beat.command, beat.response_flag, beat.error) == (0x07, 0x01, None)

    calibration = build_response(GBT32960(command=0x08, vin=VIN.encode()), when=WHEN)
    assert decode_frame(calibration).collection_time == WHEN
    with pytest.raises(ValueError):
        build_response(GBT32960(command=0x08, vin=VIN.encode()))


def test_builders_reject_bad_input() -> None:
    with pytest.raises(ValueError):
        build_heartbeat("TOO-SHORT")
    with pytest.raises(ValueError):
        build_heartbeat("LSVAU2180N218329\u00e9")
    with pytest.raises(ValueError):
        build_login(VIN, WHEN, 1, "1234")
    with pytest.raises(ValueError):
        build_login(VIN, WHEN, 1, ICCID, storage_codes=[b"A", b"BB"])
    with pytest.raises(ValueError):
        build_realtime(VIN, WHEN, vehicle=VehicleData(speed_kmh=7000.0))  # beyond 16 bits at 0.1 km/h
    with pytest.raises(ValueError):
        build_realtime(VIN, WHEN, location=Location(91.0, 0.0))
    with pytest.raises(ValueError):
        build_logout(VIN, datetime(1999, 12, 31), 1)


# ---------------------------------------------------------------- scapy layer


def test_layer_computes_length_and_bcc_and_binds_command() -> None:
    frame = GBT32960(vin=VIN.encode()) / GBT32960Logout(collection_time=WHEN, serial=0x1234)
    raw = bytes(frame)
    assert raw[2] == 0x04  # bind_layers sets the command from the data unit
    assert raw[22:24] == b"\x00\x08" and len(raw) == 24 + 8 + 1
    assert raw[-1] == xor_all(raw[2:-1])
    forced = bytes(GBT32960(vin=VIN.encode(), length=99, bcc=0x55) / GBT32960Logout(collection_time=WHEN))
    assert forced[22:24] == b"\x00\x63" and forced[-1] == 0x55  # explicit values are kept for fault injection


def test_layer_leaves_following_bytes_alone() -> None:
    first, second = build_logout(VIN, WHEN, 1), build_heartbeat(VIN)
    frame = GBT32960(first + second)
    assert frame.bcc == first[-1] and frame[GBT32960Logout].serial == 1
    assert bytes(frame) == first + second  # the next frame stays as padding, the BCC in place


# ---------------------------------------------------------------- BCC


def test_bcc() -> None:
    assert bcc(b"") == 0 and bcc(b"\x01\x02\x03") == 0 and bcc(b"\xf0\x0f") == 0xFF
    raw = full_report(Location(31.2, 121.4))
    assert raw[-1] == xor_all(raw[2:-1]) == bcc(raw[2:-1])


@pytest.mark.parametrize("index", [2, 3, 10, 21, 30, 45, -1])
def test_flipped_byte_is_detected(index: int) -> None:
    raw = bytearray(full_report(Location(31.2, 121.4)))
    raw[index] ^= 0x01
    decoded = decode_frame(bytes(raw))
    assert decoded.error is not None
    if index not in (22, 23):  # length bytes change framing rather than content
        assert "BCC mismatch" in (decoded.error or "")
    assert not any(s.complete and s.bcc_ok for s in iter_frames(bytes(raw)))
    assert not looks_like_gbt32960(bytes(raw)) or index == 2  # 0x03 is still a valid command


# ---------------------------------------------------------------- stream splitting


def test_split_garbage_then_two_frames_then_truncated_tail() -> None:
    login = build_login(VIN, WHEN, 1, ICCID)
    report = full_report(Location(-33.9, 151.2))
    tail = build_heartbeat(VIN)[:10]
    garbage = b"\x00\xffHTTP/1.1 ##oops #"  # contains an implausible "##" header and a stray "#"
    stream = garbage + login + report + tail
    slices = list(iter_frames(stream))
    assert [(s.offset, s.raw, s.bcc_ok, s.complete) for s in slices] == [
        (len(garbage), login, True, True),
        (len(garbage) + len(login), report, True, True),
        (len(garbage) + len(login) + len(report), tail, False, False),
    ]
    assert [decode_frame(s.raw).command for s in slices[:2]] == [0x01, 0x02]
    assert decode_frame(slices[2].raw).error is not None


def test_split_edge_cases() -> None:
    beat = build_heartbeat(VIN)
    assert list(iter_frames(b"")) == []
    assert list(iter_frames(b"no frames here")) == []
    assert [s.raw for s in iter_frames(beat + b"#")] == [beat, b"#"]  # "#" may start the next frame
    assert [(s.offset, s.complete) for s in iter_frames(b"x##")] == [(1, False)]
    # A complete frame with a bad BCC is reported, and splitting carries on behind it.
    bad = beat[:-1] + bytes([beat[-1] ^ 0xFF])
    assert [(s.raw, s.bcc_ok) for s in iter_frames(bad + beat)] == [(bad, False), (beat, True)]


# ---------------------------------------------------------------- hand-built frame


def test_hand_built_report_decodes_to_the_right_values() -> None:
    data = bytes((24, 1, 15, 8, 30, 0))  # 2024-01-15 08:30:00
    data += bytes((0x01, 0x01, 0x03, 0x01)) + struct.pack(">HIHH", 1234, 987654, 3502, 9877)  # 123.4 km/h ...
    data += bytes((80, 0x01, 0x2E)) + struct.pack(">H", 5000) + bytes((30, 0))
    data += bytes((0x05, 0x00)) + struct.pack(">II", 121473701, 31230416)  # valid, north, east
    data += bytes((0x06, 1, 17)) + struct.pack(">H", 4123) + bytes((2, 5)) + struct.pack(">H", 3001)
    data += bytes((1, 3, 75, 2, 8, 62))  # 35 degC, 22 degC after the -40 offset
    data += bytes((0x07, 1)) + struct.pack(">I", 1 << 11) + bytes((1,)) + struct.pack(">I", 0xCAFE) + bytes(3)
    body = b"\x02\xfe" + VIN.encode() + b"\x01" + struct.pack(">H", len(data)) + data
    raw = b"##" + body + bytes([xor_all(body)])

    assert looks_like_gbt32960(raw)
    decoded = decode_frame(raw)
    assert decoded.error is None and decoded.bcc_ok and not decoded.partial
    assert decoded.collection_time == datetime(2024, 1, 15, 8, 30, 0)
    assert decoded.vin == VIN and decoded.info_unit_types == (0x01, 0x05, 0x06, 0x07)
    assert decoded.vehicle == VehicleData(
        vehicle_state=1, charging_state=3, mode=1, speed_kmh=123.4, odometer_km=98765.4, voltage_v=350.2,
        current_a=-12.3, soc_pct=80, dcdc_state=1, gear=0x2E, insulation_kohm=5000, accelerator_pct=30,
        brake_pct=0,
    )
    assert decoded.location == Location(latitude=31.230416, longitude=121.473701)
    assert decoded.extremes is not None
    assert (decoded.extremes.max_cell_voltage_v, decoded.extremes.min_cell_voltage_v) == (4.123, 3.001)
    assert (decoded.extremes.max_temp_c, decoded.extremes.min_temp_c) == (35, 22)
    assert decoded.alarms == Alarms(level=1, general_flags=1 << 11, storage_faults=(0xCAFE,))


# ---------------------------------------------------------------- partial, encrypted, malformed


def test_unknown_unit_stops_decoding_and_keeps_the_rest() -> None:
    custom = Raw(b"\x80\x00\x03abc")
    raw = build_realtime(VIN, WHEN, vehicle=VEHICLE, extra_units=[custom],
                         location=Location(31.2, 121.4))
    decoded = decode_frame(raw)
    assert decoded.error is None and decoded.partial
    assert decoded.info_unit_types == (0x01, 0x05)
    assert decoded.undecoded == b"\x80\x00\x03abc"
    assert GBT32960(raw)[GBT32960Realtime].undecoded == b"\x80\x00\x03abc"


def test_truncated_known_unit_is_an_error() -> None:
    # The count says two motors but only one follows: scapy alone would stop quietly.
    short = GBT32960Motors(count=2, motors=[GBT32960MotorEntry()])
    decoded = decode_frame(build_realtime(VIN, WHEN, vehicle=VEHICLE, extra_units=[short]))
    assert decoded.partial and decoded.info_unit_types == (0x01,)
    assert decoded.error == "could not decode the drive motors unit (0x02)"


def test_encrypted_data_unit_is_not_decoded() -> None:
    frame = GBT32960(command=0x02, vin=VIN.encode(), encryption=0x03) / Raw(bytes(range(32)))
    decoded = decode_frame(bytes(frame))
    assert decoded.encrypted and decoded.error is None and decoded.bcc_ok
    assert decoded.info_unit_types == () and decoded.collection_time is None
    with pytest.raises(ValueError):
        build_response(bytes(frame))


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "shorter than"),
        (b"##\x07", "shorter than"),
        (b"$$" + build_heartbeat(VIN)[2:], "does not start with ##"),
        (build_logout(VIN, WHEN, 1)[:-3], "truncated"),
        (build_heartbeat(VIN) + b"\x00", "bytes after the BCC"),
    ],
)
def test_malformed_frames_give_errors(raw: bytes, message: str) -> None:
    decoded = decode_frame(raw)
    assert isinstance(decoded, DecodedFrame)
    assert message in (decoded.error or "")


def test_invalid_collection_time_is_reported() -> None:
    data = bytes((24, 13, 40, 25, 61, 61)) + b"\x00\x01"  # month 13 ...
    body = b"\x04\xfe" + VIN.encode() + b"\x01\x00\x08" + data
    decoded = decode_frame(b"##" + body + bytes([xor_all(body)]))
    assert decoded.collection_time is None and "invalid collection time" in (decoded.error or "")


def test_unknown_command_is_an_error_and_data_unit_lengths_are_checked() -> None:
    beat = decode_frame(bytes(GBT32960(command=0x07, vin=VIN.encode()) / Raw(b"\x01\x02")))
    assert beat.error is not None and "not valid for heartbeat" in beat.error
    odd = decode_frame(bytes(GBT32960(command=0x42, vin=VIN.encode())))
    assert odd.command_name == "unknown 0x42" and odd.error is not None


# ---------------------------------------------------------------- recognition


def test_looks_like_gbt32960() -> None:
    report = full_report(Location(31.2, 121.4))
    assert looks_like_gbt32960(report)
    assert looks_like_gbt32960(report[:40])  # incomplete: header checks only
    assert looks_like_gbt32960(build_login(VIN, WHEN, 1, ICCID) + report)
    assert not looks_like_gbt32960(report[:20])  # not even a header
    assert not looks_like_gbt32960(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
    assert not looks_like_gbt32960(bytes.fromhex("1603010200010001fc0303") + bytes(40))  # TLS ClientHello
    assert not looks_like_gbt32960(b"##\x09" + report[3:])  # unknown command
    assert not looks_like_gbt32960(report[:4] + b"\x00" * 17 + report[21:])  # VIN not printable
    assert not looks_like_gbt32960(report[:22] + b"\x00\x02" + report[24:])  # 2 bytes cannot hold a report


# ---------------------------------------------------------------- robustness


VALID_FRAMES = [
    build_login(VIN, WHEN, 1, ICCID, storage_codes=[b"AB"]),
    full_report(Location(-33.9, -58.4)),
    build_realtime(VIN, WHEN, extra_units=[GBT32960StorageTemperatures(
        subsystems=[GBT32960ProbeTemperatures(temperatures_c=[20, 21])])]),
    build_logout(VIN, WHEN, 2),
    build_heartbeat(VIN),
]


def check_splitter_invariants(stream: bytes) -> None:
    slices = list(iter_frames(stream))
    end = 0
    for index, piece in enumerate(slices):
        assert piece.offset >= end and stream[piece.offset:piece.offset + len(piece.raw)] == piece.raw
        end = piece.offset + len(piece.raw)
        assert piece.complete or index == len(slices) - 1  # only the last may be incomplete
        if piece.complete:
            assert piece.bcc_ok == (piece.raw[-1] == xor_all(piece.raw[2:-1]))
        decoded = decode_frame(piece.raw)
        assert not (decoded.error or "").startswith("internal")
        if not piece.complete:
            assert decoded.error is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_arbitrary_bytes_never_raise(data: bytes) -> None:
    check_splitter_invariants(data)
    decoded = decode_frame(data)
    assert isinstance(decoded, DecodedFrame) and not (decoded.error or "").startswith("internal")
    assert isinstance(looks_like_gbt32960(data), bool)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(VALID_FRAMES), st.data())
def test_mutated_valid_frames_never_raise(frame: bytes, data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(frame) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != frame[index]))
    substituted = frame[:index] + bytes([value]) + frame[index + 1:]
    decoded = decode_frame(substituted)
    # Any single-byte change breaks the start marker, the BCC or the framing.
    assert decoded.error is not None and not decoded.error.startswith("internal")
    assert not any(s.complete and s.bcc_ok for s in iter_frames(substituted))

    cut = data.draw(st.integers(0, len(frame) - 1))
    assert decode_frame(frame[:cut]).error is not None
    spliced = frame[:cut] + data.draw(st.binary(max_size=30)) + frame[cut + data.draw(st.integers(0, 30)):]
    for variant in (spliced, spliced + frame, b"##" + spliced):
        check_splitter_invariants(variant)
        assert not (decode_frame(variant).error or "").startswith("internal")


NO_HASH = st.binary(max_size=20).filter(lambda g: b"#" not in g)  # garbage that cannot fake a start


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(VALID_FRAMES), NO_HASH), max_size=5))
def test_frames_separated_by_garbage_are_all_found(parts: list[tuple[bytes, bytes]]) -> None:
    stream = b"".join(garbage + frame for frame, garbage in parts)
    assert [(s.raw, s.bcc_ok, s.complete) for s in iter_frames(stream)] == [(f, True, True) for f, _ in parts]


@pytest.mark.parametrize("frame", [
    build_login(VIN, WHEN, 1, ICCID),
    build_login(VIN, WHEN, 2, ICCID, storage_codes=[b"PACK-A01", b"PACK-B02"]),
    build_login(VIN, WHEN, 3, ICCID, storage_codes=[b"", b"", b""]),
    build_logout(VIN, WHEN, 2),
    build_heartbeat(VIN),
], ids=["login", "login-codes", "login-empty-codes", "logout", "heartbeat"])
def test_session_frames_take_the_quick_path_with_the_dissectors_answer(frame: bytes) -> None:
    from harness.net.gbt32960_scan import scan_session_frame

    decoded = decode_frame(frame)
    assert decoded.bcc_ok and not decoded.partial and not decoded.info_unit_types
    assert scan_session_frame(frame) == decoded.command


def test_a_malformed_login_is_left_to_the_dissector() -> None:
    from harness.net.gbt32960_scan import scan_session_frame

    raw = bytearray(build_login(VIN, WHEN, 3, ICCID, storage_codes=[b"AB", b"CD"]))
    raw[-7] = 3  # declares three codes where two follow
    raw[-1] = bcc(bytes(raw[2:-1]))
    assert scan_session_frame(bytes(raw)) is None and decode_frame(bytes(raw)).partial
