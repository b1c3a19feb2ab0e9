"""Join a run's score records with its replay manifest: accounting, segmentation, detection.

Pure: takes records as plain data, returns a report dict (the ``evaluate-stream`` JSON).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from models.metrics import confusion
from producers.manifest import ManifestRecord
from stream.segmentation.quality import DEFAULT_ONSET_TOLERANCE, match_onsets
from stream.wire.identity import beat_clusters
from stream.wire.schemas import ScoreRecord

NORMAL = 1


def detection_metrics(labels: ArrayLike, anomalous: ArrayLike) -> dict[str, Any]:
    """Precision, recall and F1 of ``anomalous`` against ``labels`` (class != 1 is positive)."""
    counts = confusion(np.asarray(labels) != NORMAL, anomalous)
    return {"precision": round(counts.precision, 6), "recall": round(counts.recall, 6),
            "f1": round(counts.f1, 6),
            "confusion": {"tp": counts.tp, "fp": counts.fp, "fn": counts.fn, "tn": counts.tn}}


def latency_ms(scores: Iterable[ScoreRecord]) -> dict[str, float | None]:
    """Beat latency: percentiles of producer send -> score published, in ms (None without any).

    The send of the beat (beat mode) or of the frame holding its last sample (continuous
    mode). None, not NaN: reports are JSON, and NaN is not (strict parsers refuse it).
    """
    return _percentiles([s.published_ms - s.sent_ms for s in scores])


def frame_latency_ms(scores: Iterable[ScoreRecord]) -> dict[str, float | None]:
    """Frame latency: from the send of the frame that completed each beat to its score.

    Continuous mode only (the segmenter waits for the next beat's QRS before it cuts one,
    so this is below the beat latency by about that wait); in beat mode it is the beat
    latency.
    """
    return _percentiles([s.published_ms - (s.frame_sent_ms if s.frame_sent_ms is not None
                                           else s.sent_ms) for s in scores])


def _percentiles(latencies: list[int]) -> dict[str, float | None]:
    values = np.array(latencies, dtype=np.float64)
    if values.size == 0:
        return {"p50": None, "p95": None, "p99": None}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99)}


def beat_pairs(manifest: list[ManifestRecord], scores: list[ScoreRecord]
               ) -> tuple[list[tuple[ManifestRecord, ScoreRecord]], int, int]:
    """Beat mode: (manifest record, first score) pairs, missing beats and duplicate scores."""
    by_id: dict[tuple[str, int, int | None], list[ScoreRecord]] = defaultdict(list)
    for score in scores:
        by_id[(score.patient, score.seq, score.sent_ms)].append(score)
    pairs, missing, duplicates = [], 0, 0
    for truth in manifest:
        found = by_id.get((truth.patient, truth.seq, truth.sent_ms), [])
        if not found:
            missing += 1
            continue
        duplicates += len(found) - 1
        pairs.append((truth, found[0]))
    return pairs, missing, duplicates


def _continuous_mode(manifest: list[ManifestRecord], scores: list[ScoreRecord], tolerance: int
                     ) -> tuple[list[tuple[ManifestRecord, ScoreRecord]], int, int, int]:
    """Pairs, missing, duplicates and distinct detected beats of a continuous-mode run.

    Records of one beat (onsets within :func:`stream.wire.identity.same_beat`, e.g. a new
    owner's re-cut after a crash) are one detection, represented by the first published;
    the others are duplicates.
    """
    truth_by: dict[str, list[ManifestRecord]] = defaultdict(list)
    for record in manifest:
        truth_by[record.patient].append(record)
    found_by: dict[str, list[ScoreRecord]] = defaultdict(list)
    duplicates = 0
    for group in beat_clusters(scores):
        found_by[group[0].patient].append(group[0])
        duplicates += len(group) - 1
    pairs, detected = [], 0
    for patient, truths in truth_by.items():
        truths.sort(key=lambda r: r.onset_sample or 0)
        found = sorted(found_by.get(patient, []), key=lambda s: s.onset_sample or 0)
        detected += len(found)
        true_onsets = np.array([t.onset_sample for t in truths])
        onsets = np.array([s.onset_sample for s in found], dtype=np.int64)
        for i, j in match_onsets(true_onsets, onsets, tolerance):
            pairs.append((truths[i], found[j]))
    return pairs, len(manifest) - len(pairs), duplicates, detected


def evaluate_run(manifest: list[ManifestRecord], scores: list[ScoreRecord], dead_lettered: int,
                 tolerance: int = DEFAULT_ONSET_TOLERANCE) -> dict[str, Any]:
    """The ``evaluate-stream`` report for one replay.

    Beat mode joins on (patient, seq, sent_ms). Continuous mode first merges the records of one
    beat (onsets within a fraction of a beat, :mod:`stream.wire.identity`: a re-cut after a
    change of owner is a duplicate, not a new detection), then matches each patient's detected
    onsets to the true ones within ``tolerance`` samples; unmatched detections lower
    segmentation precision, unmatched true beats are ``missing``.
    """
    mode = manifest[0].mode if manifest else "beat"
    report: dict[str, Any] = {"mode": mode, "beats_sent": len(manifest),
                              "dead_lettered": dead_lettered}
    if mode == "beat":
        pairs, missing, duplicates = beat_pairs(manifest, scores)
    else:
        pairs, missing, duplicates, detected = _continuous_mode(manifest, scores, tolerance)
        distinct = detected
        report["onset_tolerance_samples"] = tolerance
        report["segmentation_recall"] = round(len(pairs) / len(manifest), 6) if manifest else 0.0
        report["segmentation_precision"] = round(len(pairs) / distinct, 6) if distinct else 0.0
    report.update(beats_scored=len(pairs), missing=missing, duplicates=duplicates)
    report.update(detection_metrics([t.label for t, _ in pairs], [s.anomalous for _, s in pairs]))
    matched = [s for _, s in pairs]
    report["latency_ms"] = latency_ms(matched)
    report["beat_latency_ms"] = report["latency_ms"]
    report["frame_latency_ms"] = frame_latency_ms(matched)
    if matched:
        span_ms = max(s.published_ms for s in matched) - min(s.sent_ms for s in matched)
        report["throughput_beats_per_s"] = round(len(matched) / max(span_ms / 1000, 1e-3), 1)
    else:
        report["throughput_beats_per_s"] = 0.0
    return report
