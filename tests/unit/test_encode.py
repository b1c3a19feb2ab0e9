"""The producer's fast JSON encoding round-trips through the worker's decoder unchanged."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from stream.wire.decode import RawInput, decode_beat, decode_frame
from stream.wire.encode import beat_json, frame_json, samples_json
from stream.wire.schemas import BeatMessage, FrameMessage

# Below float32's largest value: its shortest decimal (3.4028235e38) parses above the limit
# the schema checks in float64 (a separate, known edge).
floats32 = st.floats(-2.0**127, 2.0**127, width=32)
patients = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)


def _same_float32(decoded: list[float], sent: np.ndarray) -> None:
    """The shortest float32 decimals parse back to exactly the float32 values sent."""
    np.testing.assert_array_equal(np.asarray(decoded, dtype=np.float32), sent)


def _raw(patient: str, value: bytes) -> RawInput:
    return RawInput("ecg.signal", 0, 0, patient.encode(), value, 0)


@given(patients, st.integers(0, 2**63 - 1), st.lists(floats32, min_size=8, max_size=300),
       st.integers(0, 2**63 - 1))
def test_beat_round_trip(patient: str, seq: int, values: list[float], sent: int) -> None:
    samples = np.asarray(values, dtype=np.float32)
    message = decode_beat(_raw(patient, beat_json(patient, seq, samples, sent)), 1 << 20)
    assert isinstance(message, BeatMessage)
    assert (message.patient, message.seq, message.sent_ms) == (patient, seq, sent)
    _same_float32(message.samples, samples)
    assert beat_json(patient, seq, samples_json(samples), sent) == beat_json(patient, seq,
                                                                             samples, sent)


@given(patients, st.integers(0, 2**40), st.integers(0, 2**40),
       st.floats(1.0, 2000.0), st.lists(floats32, min_size=1, max_size=200))
def test_frame_round_trip(patient: str, frame_seq: int, start: int, fs: float,
                          values: list[float]) -> None:
    samples = np.asarray(values, dtype=np.float32)
    value = frame_json(patient, frame_seq, start, fs, samples, 7)
    message = decode_frame(_raw(patient, value), 1 << 20)
    assert isinstance(message, FrameMessage)
    assert (message.patient, message.frame_seq, message.start_sample, message.fs,
            message.sent_ms) == (patient, frame_seq, start, fs, 7)
    _same_float32(message.samples, samples)


def test_encoding_is_compact_json() -> None:
    value = frame_json("p0001", 3, 384, 140.0, np.array([0.5, -1.25], dtype=np.float32), 9)
    assert value == (b'{"schema":1,"patient":"p0001","frame_seq":3,"start_sample":384,'
                     b'"fs":140.0,"samples":[0.5,-1.25],"sent_ms":9}')
    assert json.loads(beat_json('a"b', 1, "[1]", 2))["patient"] == 'a"b'
