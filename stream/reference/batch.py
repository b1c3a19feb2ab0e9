"""One micro-batch of the reference consumer, pure: raw records in, output records out.

Beat mode only. The same decoder as the worker (so the same dead letters), the same
normalization and model, the checkpoint's static threshold, and one score record per beat
with every field the worker's records have (anomalous ones also to the anomalies topic).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.preprocess import BEAT_LENGTH, znormalize
from stream.beats import to_model_input
from stream.wire.binary import BinaryError, beat_fields, is_binary
from stream.wire.decode import RawInput, dead_letter, decode_beat
from stream.wire.schemas import DeadLetter, now_ms
from stream.wire.score_json import BeatScores, beat_scores_json

Score = Callable[[NDArray[np.float32]], NDArray[np.float32]]


@dataclass
class Outputs:
    """What one batch produced: ``(key, value)`` pairs per output topic kind."""

    scores: list[tuple[bytes, bytes]] = field(default_factory=list)
    anomalies: list[tuple[bytes, bytes]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


@dataclass
class _Beats:
    patients: list[str] = field(default_factory=list)
    seqs: list[int] = field(default_factory=list)
    sent_ms: list[int] = field(default_factory=list)
    resampled_from: list[int | None] = field(default_factory=list)
    rows: list[NDArray[np.float32]] = field(default_factory=list)
    sources: list[RawInput] = field(default_factory=list)

    def keep(self, mask: list[bool]) -> _Beats:
        """The beats where ``mask`` is true."""
        def pick(column: list[Any]) -> list[Any]:
            return [v for v, ok in zip(column, mask, strict=True) if ok]
        return _Beats(pick(self.patients), pick(self.seqs), pick(self.sent_ms),
                      pick(self.resampled_from), pick(self.rows), pick(self.sources))


def _take(raw: RawInput, max_bytes: int, beats: _Beats, dead: list[DeadLetter],
          worker: str) -> None:
    """Decode one record into ``beats`` (binary without building a message) or a letter."""
    value = raw.value
    if value and len(value) <= max_bytes and is_binary(value):
        try:
            patient, seq, sent, samples = beat_fields(value)
        except BinaryError as exc:
            dead.append(dead_letter(raw, exc.reason, exc.detail, worker))
            return
        if raw.key is not None and raw.key == patient.encode():
            _add(raw, beats, dead, worker, patient, seq, sent, samples)
            return
    message = decode_beat(raw, max_bytes)  # JSON, and every letter the worker would write
    if isinstance(message, DeadLetter):
        dead.append(message.model_copy(update={"worker": worker}))
        return
    _add(raw, beats, dead, worker, message.patient, message.seq, message.sent_ms,
         np.asarray(message.samples, dtype=np.float32))


def _add(raw: RawInput, beats: _Beats, dead: list[DeadLetter], worker: str, patient: str,
         seq: int, sent: int, samples: NDArray[np.float32]) -> None:
    length = len(samples)
    with np.errstate(all="ignore"):
        try:
            row = znormalize(samples) if length == BEAT_LENGTH else to_model_input(samples)
        except (ValueError, ArithmeticError) as exc:
            dead.append(dead_letter(raw, "unprocessable", f"model input: {exc!r}"[:300], worker))
            return
    if not np.isfinite(row).all():
        dead.append(dead_letter(raw, "unprocessable", "model input not finite", worker))
        return
    beats.patients.append(patient)
    beats.seqs.append(seq)
    beats.sent_ms.append(sent)
    beats.resampled_from.append(None if length == BEAT_LENGTH else length)
    beats.rows.append(row)
    beats.sources.append(raw)


def score_batch(records: Sequence[RawInput], score: Score, threshold: float,
                model_version: str, worker: str, max_bytes: int) -> Outputs:
    """Decode, normalize, score and judge one batch; encode its output records."""
    out, beats = Outputs(), _Beats()
    for raw in records:
        _take(raw, max_bytes, beats, out.dead, worker)
    if not beats.rows:
        return out
    errors = score(np.stack(beats.rows))
    finite = np.isfinite(errors)
    if not finite.all():
        out.dead.extend(dead_letter(raw, "model_error", "non-finite reconstruction error", worker)
                        for raw, ok in zip(beats.sources, finite, strict=True) if not ok)
        beats = beats.keep(finite.tolist())
        errors = errors[finite]
        if not beats.rows:
            return out
    received = records[0].received_ms
    columns = BeatScores(
        patients=beats.patients, seqs=beats.seqs, scores=errors.tolist(),
        thresholds=[threshold] * len(errors), anomalous=(errors > threshold).tolist(),
        resampled_from=beats.resampled_from, sent_ms=beats.sent_ms,
        received_ms=received, published_ms=now_ms(), model_version=model_version,
        worker=worker)
    values = beat_scores_json(columns)
    keys = [p.encode() for p in beats.patients]
    out.scores = list(zip(keys, values, strict=True))
    out.anomalies = [kv for kv, bad in zip(out.scores, columns.anomalous, strict=True) if bad]
    return out
