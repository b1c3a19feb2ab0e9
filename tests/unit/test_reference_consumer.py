"""The reference consumer's batch (pure) and the fast score-record encoder."""

from __future__ import annotations

import json

import numpy as np
import pytest

from models.preprocess import znormalize
from stream.beats import to_model_input
from stream.reference.batch import score_batch
from stream.wire.binary import encode_beat
from stream.wire.decode import RawInput, decode_beat
from stream.wire.encode import beat_json
from stream.wire.schemas import DeadLetter, ScoreRecord
from stream.wire.score_json import BeatScores, beat_scores_json

RNG = np.random.default_rng(7)


def _raw(value: bytes, key: bytes | None, offset: int = 0) -> RawInput:
    return RawInput("ecg.beats", 0, offset, key, value, 1_000)


def _score(beats: np.ndarray) -> np.ndarray:
    """A stand-in model: deterministic per row, independent of the batch."""
    return np.abs(beats).sum(axis=1).astype(np.float32) / 10


@pytest.mark.parametrize("patient", ["p-1", "Zoë \"quoted\" \\ ward/7", "患者-3"])
@pytest.mark.parametrize(("bad", "resampled"), [(False, None), (True, 180)])
def test_fast_records_parse_to_the_workers_record(patient: str, bad: bool,
                                                 resampled: int | None) -> None:
    score, threshold = 12.345678901234, 1e-05
    batch = BeatScores(patients=[patient], seqs=[2**40], scores=[score], thresholds=[threshold],
                       anomalous=[bad], resampled_from=[resampled], sent_ms=[1_700_000_000_123],
                       received_ms=1_700_000_000_200, published_ms=1_700_000_000_300,
                       model_version="lstm-ae-x", worker="host:1")
    expected = ScoreRecord(patient=patient, mode="beat", seq=2**40, score=score,
                           threshold=threshold, threshold_source="static", anomalous=bad,
                           judged_by="model", anomaly_reason="model" if bad else None,
                           model_version="lstm-ae-x", resampled_from=resampled,
                           sent_ms=1_700_000_000_123, received_ms=1_700_000_000_200,
                           published_ms=1_700_000_000_300, worker="host:1")
    (value,) = beat_scores_json(batch)
    assert ScoreRecord.model_validate_json(value) == expected
    # every field the worker's JSON has, nulls included
    assert json.loads(value) == json.loads(expected.model_dump_json(by_alias=True))


def test_a_batch_scores_good_beats_and_letters_bad_ones_as_the_worker_does() -> None:
    beats = RNG.normal(size=(3, 140)).astype(np.float32)
    long_beat = RNG.normal(size=180).astype(np.float32)
    records = [
        _raw(encode_beat("a", 1, beats[0], 10), b"a", 0),
        _raw(beat_json("b", 2, beats[1], 11), b"b", 1),
        _raw(encode_beat("c", 3, long_beat, 12), b"c", 2),
        _raw(b'{"schema":1,"patient":"d"', b"d", 3),               # invalid JSON
        _raw(encode_beat("e", 4, beats[2], 13), b"not-e", 4),      # key mismatch
        _raw(encode_beat("f", 5, beats[2], 14)[:-3], b"f", 5),     # truncated binary
        _raw(encode_beat("g", 6, np.ones(140, np.float32), 15), b"g", 6),  # flat: scored
        _raw(b"", b"h", 7),
    ]
    out = score_batch(records, _score, threshold=12.0, model_version="v", worker="w",
                      max_bytes=65_536)
    scored = [ScoreRecord.model_validate_json(v) for _, v in out.scores]
    assert [(r.patient, r.seq) for r in scored] == [("a", 1), ("b", 2), ("c", 3), ("g", 6)]
    assert [k for k, _ in out.scores] == [b"a", b"b", b"c", b"g"]
    expected = _score(np.stack([znormalize(beats[0]), znormalize(beats[1]),
                                to_model_input(long_beat), znormalize(np.ones(140, np.float32))]))
    assert np.allclose([r.score for r in scored], expected, rtol=0, atol=1e-6)
    assert [r.resampled_from for r in scored] == [None, None, 180, None]
    assert [r.anomalous for r in scored] == [bool(s > 12.0) for s in expected]
    assert [v for _, v in out.anomalies] == [v for (_, v), r in zip(out.scores, scored,
                                                                    strict=True) if r.anomalous]
    # The same letters as the worker's decoder writes, for the same records.
    letters = {d.offset: d.reason for d in out.dead}
    for raw in records[3:6] + records[7:]:
        worker = decode_beat(raw, 65_536)
        assert isinstance(worker, DeadLetter)
        assert letters[raw.offset] == worker.reason
    assert len(out.dead) == 4 and all(d.worker == "w" for d in out.dead)


def test_a_non_finite_score_is_a_dead_letter_not_a_record() -> None:
    beats = RNG.normal(size=(2, 140)).astype(np.float32)
    records = [_raw(encode_beat(p, i, beats[i], 10), p.encode(), i) for i, p in enumerate("ab")]

    def half_broken(x: np.ndarray) -> np.ndarray:
        return np.array([1.0, np.nan], dtype=np.float32)[: len(x)]

    out = score_batch(records, half_broken, 5.0, "v", "w", 65_536)
    assert [ScoreRecord.model_validate_json(v).patient for _, v in out.scores] == ["a"]
    assert [(d.offset, d.reason) for d in out.dead] == [(1, "model_error")]
