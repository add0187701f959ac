"""The ground-truth search as properties: any encoding of a position near the track, and any
spelling or digest of an identifier, in any container, is found; random bytes and JSON of the same
shape far from the track are not."""

from __future__ import annotations

import json
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.truth.recognise import Recogniser
from tests.truth_encodings import (
    CONTAINERS,
    POSITION_WRITERS,
    TEXT_ONLY,
    TRACK,
    TRUTH,
    identifier_writings,
    near_track,
)

RECOGNISER = Recogniser(TRUTH)
# exploratory where a developer runs them; the same examples every time on CI, so a red build is reproducible
SETTINGS = settings(max_examples=int(os.environ.get("TRUTH_EXAMPLES", "300")), deadline=None,
                    derandomize=bool(os.environ.get("CI")), suppress_health_check=[HealthCheck.too_slow])


def _noise(draw: st.DrawFn, text: bool) -> bytes:
    alphabet = st.sampled_from(b"abcdefghijklmnopqrstuvwxyz ,:;") if text else st.integers(0, 255)
    return bytes(draw(st.lists(alphabet, max_size=24)))


@st.composite
def positions(draw: st.DrawFn) -> tuple[float, bytes, str, str]:
    time, lat, lon = near_track(draw)
    writer = draw(st.sampled_from(sorted(POSITION_WRITERS)))
    written = POSITION_WRITERS[writer](lat, lon, draw(st.booleans()))
    text = written.isascii() and written.decode().isprintable()
    container = draw(st.sampled_from(sorted(c for c in CONTAINERS if text or c not in TEXT_ONLY)))
    spacer = b" " if text else b""
    # a protobuf message is whole or it is not protobuf: noise goes around it only inside a container
    framed = writer.startswith("protobuf")
    payload = written if framed else _noise(draw, text) + spacer + written + spacer + _noise(draw, text)
    return time, CONTAINERS[container](payload), writer, container


@SETTINGS
@given(positions())
def test_a_position_near_the_track_is_found_in_any_encoding_and_container(case: tuple[float, bytes, str, str]) -> None:
    time, payload, writer, container = case
    found = RECOGNISER.inspect([(time, [(payload, "body")])])[0]
    assert "location" in found.categories, (writer, container, payload[:120])
    assert found.location is not None
    assert abs(found.location[0] - 31.25) < 1 and abs(found.location[1] - 121.5) < 1


@st.composite
def identifiers(draw: st.DrawFn) -> tuple[str, bytes, str, str]:
    identifier = draw(st.sampled_from(TRUTH.identifiers))
    writings = identifier_writings(identifier.value, identifier.kind)
    how = draw(st.sampled_from(sorted(writings)))
    written = writings[how]
    text = written.isascii() and written.decode().isprintable()
    container = draw(st.sampled_from(sorted(c for c in CONTAINERS if text or c not in TEXT_ONLY)))
    payload = _noise(draw, text) + (b" " if text else b"") + written + (b" " if text else b"") + _noise(draw, text)
    return identifier.category, CONTAINERS[container](payload), how, container


@SETTINGS
@given(identifiers())
def test_an_identifier_is_found_literally_case_folded_or_hashed(case: tuple[str, bytes, str, str]) -> None:
    category, payload, how, container = case
    found = RECOGNISER.inspect([(1_772_000_000.0, [(payload, "headers")])])[0]
    assert category in found.categories, (how, container, payload[:120])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.binary(min_size=8, max_size=2048))
def test_random_bytes_carry_no_ground_truth(data: bytes) -> None:
    found = RECOGNISER.inspect([(float(TRACK.times[50]), [(data, "datagram")])])[0]
    assert not found.categories


@st.composite
def far_positions(draw: st.DrawFn) -> bytes:
    """JSON of the same shape as a position upload, with a position at least 2 km from the track."""
    lat = draw(st.floats(-89.9, 89.9))
    lon = draw(st.floats(-179.9, 179.9))
    if abs(lat - 31.25) < 0.05 and abs(lon - 121.5) < 0.1:
        lat += 1.0
    places = draw(st.integers(1, 8))
    return json.dumps({"t": draw(st.integers(0, 2**40)),
                       "geo": {"la": round(lat, places), "lo": round(lon, places)}}).encode()


@settings(max_examples=300, deadline=None, derandomize=True)
@given(far_positions())
def test_json_of_the_same_shape_far_from_the_track_is_not_a_position(payload: bytes) -> None:
    found = RECOGNISER.inspect([(float(TRACK.times[50]), [(payload, "body")])])[0]
    assert not found.categories


def test_a_position_outside_the_time_window_is_not_the_vehicles() -> None:
    lat, lon = float(TRACK.lat[0]), float(TRACK.lon[0])
    payload = json.dumps({"la": lat, "lo": lon}).encode()
    assert "location" in RECOGNISER.inspect([(float(TRACK.times[0]), [(payload, "body")])])[0].categories
    late = float(TRACK.times[-1]) + TRUTH.window_s + 10
    assert not RECOGNISER.inspect([(late, [(payload, "body")])])[0].categories


def test_opaque_fields_are_reported_and_media_or_numbers_are_not() -> None:
    ciphertext = os.urandom(256)
    form = b"d=" + ciphertext.hex().encode()
    assert RECOGNISER.inspect([(None, [(form, "body")])])[0].opaque
    wav = b"RIFF" + b"\x00" * 4 + b"WAVEfmt " + os.urandom(200)
    floats = json.dumps({"embedding": [0.1 * i for i in range(64)]}).encode()
    short = b"k=" + os.urandom(32).hex().encode()  # a digest or a nonce, not a payload
    for payload in (wav, floats, short, json.dumps({"img": "/9j/" + "A" * 100}).encode()):
        assert not RECOGNISER.inspect([(None, [(payload, "body")])])[0].opaque, payload[:40]


def test_the_encoding_and_its_precision_are_named() -> None:
    time, lat, lon = float(TRACK.times[10]), float(TRACK.lat[10]) + 1.23e-5, float(TRACK.lon[10]) + 4.56e-5
    payload = POSITION_WRITERS["int32 1e7 >"](lat, lon, True)
    found = RECOGNISER.inspect([(time, [(payload, "datagram")])])[0]
    assert found.encodings["location"] == "int32 ×1e7, big-endian, about 1.1 cm in the datagram", found.encodings
    coarse = POSITION_WRITERS["decimal text 4"](lat, lon, False)
    found = RECOGNISER.inspect([(time, [(coarse, "body")])])[0]
    assert found.encodings["location"] == "decimal text, 4 decimal places, about 11 m in the body", found.encodings
