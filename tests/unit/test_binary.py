"""The float32 binary variant: same messages as JSON, every broken value a dead letter."""

from __future__ import annotations

import base64
import json
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.beats import intake_beats, to_model_input
from stream.wire.binary import encode_beat, encode_frame, is_binary, parse_beat
from stream.wire.decode import RawInput, decode_beat, decode_frame
from stream.wire.encode import frame_json, samples_json
from stream.wire.schemas import BeatMessage, DeadLetter, FrameMessage

BEAT = np.random.default_rng(0).standard_normal(140).astype(np.float32)


def raw(value: bytes, key: bytes | None = b"p1") -> RawInput:
    return RawInput("ecg.beats", 1, 7, key, value, 1000)


def test_beat_round_trip_is_bit_exact() -> None:
    value = encode_beat("p1", 41, BEAT, 1234)
    assert is_binary(value) and len(value) == 4 + 2 + 2 + 18 + 560
    message = decode_beat(raw(value), 65536)
    assert isinstance(message, BeatMessage)
    assert (message.patient, message.seq, message.sent_ms) == ("p1", 41, 1234)
    assert np.array_equal(np.asarray(message.samples, dtype=np.float32), BEAT)


def test_binary_and_json_give_the_model_the_same_input() -> None:
    text = (f'{{"schema":1,"patient":"p1","seq":41,"samples":{samples_json(BEAT)},'
            f'"sent_ms":1234}}').encode()
    from_json = decode_beat(raw(text), 65536)
    from_binary = decode_beat(raw(encode_beat("p1", 41, BEAT, 1234)), 65536)
    assert isinstance(from_json, BeatMessage) and isinstance(from_binary, BeatMessage)
    fields = ("patient", "seq", "sent_ms")
    assert [getattr(from_json, f) for f in fields] == [getattr(from_binary, f) for f in fields]
    # JSON carries each float32 as its shortest decimal: equal once read back as float32.
    assert np.array_equal(np.float32(from_json.samples), np.float32(from_binary.samples))
    a, b = (intake_beats([raw(v)], 65536, "w").rows[0]
            for v in (text, encode_beat("p1", 41, BEAT, 1234)))
    assert np.array_equal(a, b)
    assert len(encode_beat("p1", 41, BEAT, 1234)) < len(text) / 2


def test_intake_resamples_json_beats_from_their_float64_values_in_input_order() -> None:
    """A JSON beat that is not 140 samples is resampled from the values as sent (float64)."""
    long = np.random.default_rng(1).standard_normal(181) * 1e-3 + 1.0  # not float32-exact
    text = json.dumps({"schema": 1, "patient": "p1", "seq": 2, "samples": long.tolist(),
                       "sent_ms": 5}).encode()
    records = [raw(encode_beat("p1", 1, BEAT, 4)), raw(text), raw(encode_beat("p1", 3, BEAT, 6))]
    intake = intake_beats(records, 65536, "w")
    assert intake.seqs == [1, 2, 3] and intake.resampled_from == [None, 181, None]
    assert np.array_equal(intake.rows[1], to_model_input(long))
    assert not np.array_equal(intake.rows[1], to_model_input(long.astype(np.float32)))
    assert np.array_equal(intake.rows[0], intake.rows[2]) and not intake.dead


def test_frame_round_trip() -> None:
    value = encode_frame("p1", 3, 384, 140.0, BEAT[:64], 55)
    message = decode_frame(raw(value), 65536)
    assert isinstance(message, FrameMessage)
    assert (message.frame_seq, message.start_sample, message.fs, message.sent_ms) == (
        3, 384, 140.0, 55)
    assert np.array_equal(np.asarray(message.samples, dtype=np.float32), BEAT[:64])


def _with_samples(samples: np.ndarray) -> bytes:
    return encode_beat("p1", 0, np.asarray(samples, dtype=np.float32), 1)


GOOD = encode_beat("p1", 0, BEAT, 1)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (GOOD[:-1], "malformed_binary"),
        (GOOD + b"\0", "malformed_binary"),
        (GOOD[:9], "malformed_binary"),
        (b"ECGB", "malformed_binary"),
        (GOOD[:4] + b"\x02" + GOOD[5:], "unknown_schema"),
        (b"ECGX" + GOOD[4:], "unknown_schema"),
        (encode_frame("p1", 0, 0, 140.0, BEAT, 1), "unknown_schema"),
        (_with_samples(np.r_[BEAT[:10], np.nan, BEAT[11:]]), "non_finite"),
        (_with_samples(np.r_[BEAT[:10], np.inf, BEAT[11:]]), "non_finite"),
        (_with_samples(BEAT[:4]), "wrong_length"),
        (GOOD[:6] + b"\xff" + GOOD[7:], "malformed_binary"),  # patient id not UTF-8
        (encode_beat("p2", 0, BEAT, 1), "key_mismatch"),
    ],
)
def test_bad_binary_beats_are_dead_lettered(value: bytes, reason: str) -> None:
    letter = decode_beat(raw(value), 65536)
    assert isinstance(letter, DeadLetter), letter
    assert letter.reason == reason, letter.detail
    assert (letter.source_topic, letter.partition, letter.offset) == ("ecg.beats", 1, 7)
    assert letter.payload_encoding == "base64"
    assert base64.b64decode(letter.payload) == value[:2048]
    assert letter.payload_bytes == len(value)


@pytest.mark.parametrize("fs", [0.0, -140.0, float("nan"), float("inf")])
def test_bad_frame_rate_is_dead_lettered(fs: float) -> None:
    value = encode_frame("p1", 0, 0, 140.0, BEAT[:64], 1)
    head = 4 + 2 + 2 + 16  # magic, version, id length, id, frame_seq, start_sample
    value = value[:head] + struct.pack("<d", fs) + value[head + 8:]
    letter = decode_frame(raw(value), 65536)
    assert isinstance(letter, DeadLetter) and letter.reason == "invalid_value"


def test_json_dead_letters_keep_utf8_payloads() -> None:
    letter = decode_beat(raw(b'{"schema": 1}'), 65536)
    assert isinstance(letter, DeadLetter) and letter.payload_encoding == "utf-8"
    assert json.loads(letter.model_dump_json())["payload"] == '{"schema": 1}'


def test_patient_id_limits_are_enforced_when_encoding() -> None:
    with pytest.raises(ValueError, match="patient id"):
        encode_beat("", 0, BEAT, 1)
    with pytest.raises(ValueError, match="patient id"):
        encode_beat("x" * 129, 0, BEAT, 1)


def test_parse_beat_rejects_what_the_json_schema_rejects() -> None:
    with pytest.raises(ValueError, match="wrong_length"):
        parse_beat(_with_samples(np.zeros(4097)))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700), st.sampled_from([b"ECGB", b"ECGF", b"ECG"]))
def test_any_bytes_after_the_magic_never_raise(tail: bytes, magic: bytes) -> None:
    for decode in (decode_beat, decode_frame):
        out = decode(raw(magic + tail, key=None), 65536)
        assert isinstance(out, (BeatMessage, FrameMessage, DeadLetter))


@settings(max_examples=200, deadline=None)
@given(st.integers(0, len(GOOD) - 1), st.integers(0, 255))
def test_any_single_byte_change_decodes_or_dead_letters(where: int, byte: int) -> None:
    value = GOOD[:where] + bytes([byte]) + GOOD[where + 1:]
    out = decode_beat(raw(value, key=None), 65536)
    assert isinstance(out, (BeatMessage, DeadLetter))


def test_binary_rules_match_the_json_schema() -> None:
    # 200-byte patient id: the u8 length allows it, the schema does not.
    pid = b"x" * 200
    value = b"ECGB" + bytes([1, len(pid)]) + pid + struct.pack("<QQH", 0, 1, 140) + BEAT.tobytes()
    letter = decode_beat(raw(value, key=pid), 65536)
    assert isinstance(letter, DeadLetter) and letter.reason == "invalid_value"
    huge_seq = encode_beat("p1", 2**63, BEAT, 1)
    letter = decode_beat(raw(huge_seq), 65536)
    assert isinstance(letter, DeadLetter) and letter.reason == "invalid_value"


def test_frame_version_2_declares_a_patient_the_model_knows() -> None:
    value = encode_frame("p1", 3, 384, 250.0, BEAT[:64], 55, known_to_model=True)
    assert value[4] == 2
    message = decode_frame(raw(value), 65536)
    assert isinstance(message, FrameMessage) and message.known_to_model
    assert message.schema_ == 2 and message.fs == 250.0
    assert np.array_equal(np.asarray(message.samples, dtype=np.float32), BEAT[:64])
    plain = decode_frame(raw(encode_frame("p1", 3, 384, 250.0, BEAT[:64], 55)), 65536)
    assert isinstance(plain, FrameMessage) and not plain.known_to_model and plain.schema_ == 1
    # A flag bit the layout does not define is refused; a version-2 beat does not exist.
    flags_at = 4 + 2 + 2 + 8 + 8 + 8 + 8
    for flags in (b"\x11", b"\x0b", b"\x0d"):  # bit 4; units codes 5 and 6
        bad = value[:flags_at] + flags + value[flags_at + 1 :]
        dead = decode_frame(raw(bad), 65536)
        assert isinstance(dead, DeadLetter) and dead.reason == "invalid_value", flags
    beat = encode_beat("p1", 0, BEAT, 1)
    dead = decode_beat(raw(beat[:4] + b"\x02" + beat[5:]), 65536)
    assert isinstance(dead, DeadLetter) and dead.reason == "unknown_schema"


@pytest.mark.parametrize("units", ["mV", "uV", "V", "adc", None])
@pytest.mark.parametrize("known", [False, True])
def test_frames_state_their_units_in_both_encodings(units: str | None, known: bool) -> None:
    binary = decode_frame(raw(encode_frame("p1", 3, 384, 250.0, BEAT[:64], 55, known, units)),
                          65536)
    text = decode_frame(raw(frame_json("p1", 3, 384, 250.0, BEAT[:64], 55, known, units)), 65536)
    for message in (binary, text):
        assert isinstance(message, FrameMessage), message
        assert message.units == units and message.known_to_model is known
        assert message.schema_ == (2 if units or known else 1)


@pytest.mark.parametrize(("fields", "reason"), [
    ({"schema": 2, "units": "mV"}, None),
    ({"schema": 2, "units": "mv"}, "invalid_value"),
    ({"schema": 1, "units": "mV"}, "unknown_field"),
    ({"schema": 2, "known_to_model": True}, None),
    ({"schema": 2}, None),
    ({"schema": 1, "known_to_model": False}, None),
    ({"schema": 1, "known_to_model": True}, "unknown_field"),
    ({"schema": 3}, "unknown_schema"),
    ({"schema": 2, "known_to_model": 1}, "wrong_type"),
])
def test_json_frame_schema_versions(fields: dict, reason: str | None) -> None:
    frame = {"patient": "p1", "frame_seq": 0, "start_sample": 0, "fs": 360.0,
             "samples": [0.1, 0.2], "sent_ms": 1, **fields}
    out = decode_frame(raw(json.dumps(frame).encode()), 65536)
    if reason is None:
        assert isinstance(out, FrameMessage)
        assert out.known_to_model == bool(fields.get("known_to_model"))
    else:
        assert isinstance(out, DeadLetter) and out.reason == reason, out
