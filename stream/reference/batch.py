"""One micro-batch of the reference consumer, pure: raw records in, output records out.

Beat mode only. The same decoder as the worker (so the same dead letters), the same
normalization and model, the checkpoint's static threshold, and one score record per beat
with every field the worker's records have (anomalous ones also to the anomalies topic).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from stream.beats import intake_beats
from stream.wire.decode import RawInput, dead_letter
from stream.wire.schemas import DeadLetter, now_ms
from stream.wire.score_json import BeatScores, beat_scores_json

Score = Callable[[NDArray[np.float32]], NDArray[np.float32]]


@dataclass
class Outputs:
    """What one batch produced: ``(key, value)`` pairs per output topic kind."""

    scores: list[tuple[bytes, bytes]] = field(default_factory=list)
    anomalies: list[tuple[bytes, bytes]] = field(default_factory=list)
    dead: list[DeadLetter] = field(default_factory=list)


def score_batch(records: Sequence[RawInput], score: Score, threshold: float,
                model_version: str, worker: str, max_bytes: int) -> Outputs:
    """Decode, normalize, score and judge one batch; encode its output records."""
    beats = intake_beats(records, max_bytes, worker)  # the worker's intake and letters
    out = Outputs(dead=beats.dead)
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
        thresholds=[threshold] * len(errors),
        anomalous=(errors.astype(np.float64) > threshold).tolist(),
        resampled_from=beats.resampled_from, sent_ms=beats.sent_ms,
        received_ms=received, published_ms=now_ms(), model_version=model_version,
        worker=worker)
    values = beat_scores_json(columns)
    keys = [p.encode() for p in beats.patients]
    out.scores = list(zip(keys, values, strict=True))
    out.anomalies = [kv for kv, bad in zip(out.scores, columns.anomalous, strict=True) if bad]
    return out
