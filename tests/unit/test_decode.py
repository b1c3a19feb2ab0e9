"""The decoder turns every kind of bad record into a dead letter with a reason, never raises."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.wire.decode import RawInput, decode_beat, decode_frame
from stream.wire.schemas import BeatMessage, DeadLetter, FrameMessage

GOOD = {"schema": 1, "patient": "p1", "seq": 0, "samples": [0.25] * 140, "sent_ms": 1}
FRAME = {"schema": 1, "patient": "p1", "frame_seq": 3, "start_sample": 384, "fs": 140.0,
         "samples": [0.5] * 128, "sent_ms": 1}


def raw(value: bytes | None, key: bytes | None = b"p1") -> RawInput:
    return RawInput("ecg.beats", 2, 41, key, value, 1000)


def dumps(**changes: object) -> bytes:
    return json.dumps({**GOOD, **changes}).encode()


def test_good_beat_decodes() -> None:
    message = decode_beat(raw(json.dumps(GOOD).encode()), 65536)
    assert isinstance(message, BeatMessage)
    assert message.patient == "p1" and len(message.samples) == 140


def test_other_lengths_are_accepted_for_resampling() -> None:
    assert isinstance(decode_beat(raw(dumps(samples=[0.1] * 187)), 65536), BeatMessage)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty_payload"),
        (None, "empty_payload"),
        (b"{nope", "invalid_json"),
        (b"[1, 2, 3]", "not_an_object"),
        (b"\xff\xfe\x00", "not_utf8"),
        (dumps(schema=2), "unknown_schema"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "schema"}).encode(), "missing_field"),
        (json.dumps({k: v for k, v in GOOD.items() if k != "seq"}).encode(), "missing_field"),
        (dumps(samples=[0.1] * 3), "wrong_length"),
        (dumps(samples=[0.1] * 5000), "wrong_length"),
        (dumps(samples="abc"), "wrong_type"),
        (dumps(samples=[True] * 140), "wrong_type"),
        (dumps(samples=["0.1"] * 140), "wrong_type"),
        (dumps(seq="7"), "wrong_type"),
        (dumps(seq=-1), "invalid_value"),
        (dumps(patient=""), "invalid_value"),
        (dumps(label=1), "unknown_field"),
        (json.dumps({**GOOD, "samples": [float("nan")] * 140}).encode(), "non_finite"),
        (json.dumps({**GOOD, "samples": [float("inf")] * 140}).encode(), "non_finite"),
    ],
)
def test_bad_beats_become_dead_letters(value: bytes | None, reason: str) -> None:
    letter = decode_beat(raw(value), 65536)
    assert isinstance(letter, DeadLetter)
    assert letter.reason == reason
    assert (letter.source_topic, letter.partition, letter.offset) == ("ecg.beats", 2, 41)


def test_oversized_payload_is_refused_before_parsing() -> None:
    letter = decode_beat(raw(dumps(samples=[0.1] * 140)), 256)
    assert isinstance(letter, DeadLetter) and letter.reason == "payload_too_large"


def test_key_must_be_the_patient() -> None:
    letter = decode_beat(raw(json.dumps(GOOD).encode(), key=b"p2"), 65536)
    assert isinstance(letter, DeadLetter) and letter.reason == "key_mismatch"


def test_dead_letter_payload_is_capped_and_escaped() -> None:
    value = b"\xff" + b"x" * 10_000
    letter = decode_beat(raw(value), 65536)
    assert isinstance(letter, DeadLetter)
    assert letter.payload_bytes == len(value) and len(letter.payload) <= 2048 + 4
    assert letter.payload.startswith("\\xff")


@pytest.mark.parametrize(("changes", "reason"), [
    ({"fs": 0.0}, "invalid_value"), ({"fs": "fast"}, "wrong_type"),
    ({"frame_seq": -3}, "invalid_value"), ({"samples": []}, "wrong_length")])
def test_bad_frames(changes: dict, reason: str) -> None:
    letter = decode_frame(raw(json.dumps({**FRAME, **changes}).encode()), 65536)
    assert isinstance(letter, DeadLetter) and letter.reason == reason


def test_good_frame_decodes() -> None:
    assert isinstance(decode_frame(raw(json.dumps(FRAME).encode()), 65536), FrameMessage)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=600),
                 st.recursive(st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
                              lambda c: st.lists(c, max_size=5) | st.dictionaries(st.text(), c,
                                                                                  max_size=5),
                              max_leaves=20).map(lambda v: json.dumps(v).encode())))
def test_decoder_never_raises(value: bytes) -> None:
    for decode in (decode_beat, decode_frame):
        out = decode(raw(value), 4096)
        assert isinstance(out, (BeatMessage, FrameMessage, DeadLetter))
        if isinstance(out, DeadLetter):
            assert out.reason


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"samples": [1e39] * 140}, "non_finite"),  # finite double, infinite as float32
        ({"samples": [1e308, -1e308] * 70}, "non_finite"),
        ({"samples": [1e39] * 100}, "non_finite"),  # the resampling path
        ({"schema": True}, "unknown_schema"),
        ({"schema": 1.0}, "unknown_schema"),
        ({"seq": 2**70}, "invalid_value"),
        ({"sent_ms": 2**63}, "invalid_value"),
        ({"patient": "é" * 100}, "invalid_value"),  # 100 characters, 200 bytes of UTF-8
    ],
)
def test_documented_rules_are_enforced(changes: dict, reason: str) -> None:
    key = str(changes.get("patient", "p1")).encode()
    letter = decode_beat(raw(dumps(**changes), key=key), 65536)
    assert isinstance(letter, DeadLetter) and letter.reason == reason, letter


def test_a_record_without_key_is_refused() -> None:
    letter = decode_beat(raw(json.dumps(GOOD).encode(), key=None), 65536)
    assert isinstance(letter, DeadLetter) and letter.reason == "key_mismatch"


def test_frame_samples_beyond_float32_are_refused() -> None:
    value = json.dumps({**FRAME, "samples": [3.5e38] * 128}).encode()
    letter = decode_frame(raw(value), 65536)
    assert isinstance(letter, DeadLetter) and letter.reason == "non_finite"


@pytest.mark.parametrize("key", [b"k" * 600_000, b"\xff" * 250_000])
def test_dead_letter_key_is_capped(key: bytes) -> None:
    letter = decode_beat(raw(json.dumps(GOOD).encode(), key=key), 65536)
    assert isinstance(letter, DeadLetter) and letter.reason == "key_mismatch"
    assert letter.key is not None and len(letter.key) <= 1024
    assert len(letter.model_dump_json(by_alias=True)) < 16_384
