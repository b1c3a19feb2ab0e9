"""Evaluate a replay of real recordings: accounting, EC57 beat detection, latency.

Pure: takes the manifest's annotations and extents and the run's score records, returns the
``evaluate-stream`` report of a record replay (JSON). Records of one beat (a re-cut after a
change of owner) are merged first (:mod:`stream.wire.identity`), then each patient's
published fiducials are matched to the reference beats (:mod:`stream.runs.ec57`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from producers.manifest import AnnotationRecord, ExtentRecord
from stream.runs.ec57 import BEAT_SYMBOLS, Detection, Reference, ec57_report
from stream.runs.evaluation import frame_latency_ms, latency_ms
from stream.wire.identity import beat_clusters
from stream.wire.schemas import ScoreRecord


def evaluate_record_run(annotations: Iterable[AnnotationRecord],
                        extents: dict[str, ExtentRecord], scores: list[ScoreRecord],
                        dead_lettered: int, learning_s: float = 300.0) -> dict[str, Any]:
    """The report of one record replay.

    Only the annotations within each patient's extent (the samples it sent) count; score
    records of patients the replay did not send are left out.
    """
    references = [Reference(a.patient, a.sample, a.symbol) for a in annotations
                  if a.patient in extents and a.sample < extents[a.patient].samples]
    ours = [s for s in scores if s.patient in extents and s.mode == "continuous"]
    clusters = beat_clusters(ours)
    firsts = [group[0] for group in clusters]
    without_fiducial = sum(1 for s in firsts if s.fiducial_sample is None)
    detections = [Detection(s.patient, int(s.fiducial_sample), s.anomalous, bool(s.premature),
                            s.anomaly_reason in ("morphology", "both"))
                  for s in firsts if s.fiducial_sample is not None]
    fs = {pid: extent.fs for pid, extent in extents.items()}
    ec57 = ec57_report(references, detections, fs, learning_s=learning_s)
    beats = sum(1 for r in references if r.symbol in BEAT_SYMBOLS)
    return {
        "mode": "continuous", "source": "records", "patients": len(extents),
        "beats_sent": beats, "beats_scored": len(firsts),
        "duplicates": len(ours) - len(firsts), "without_fiducial": without_fiducial,
        "dead_lettered": dead_lettered,
        "anomalies": sum(1 for s in firsts if s.anomalous),
        "ec57": ec57,
        "latency_ms": latency_ms(firsts),
        "frame_latency_ms": frame_latency_ms(firsts),
    }
