"""Joining a run's outputs with its manifest: missing, duplicates, onset matching, metrics."""

from __future__ import annotations

import pytest

from producers.manifest import ManifestRecord, ManifestWriter, read_manifest
from stream.evaluation import _match_onsets, detection_metrics, evaluate_run
from stream.schemas import ScoreRecord


def score(patient: str, seq: int, anomalous: bool, onset: int | None = None, sent: int = 5,
          mode: str = "beat") -> ScoreRecord:
    return ScoreRecord(patient=patient, mode=mode, seq=seq, onset_sample=onset, score=1.0,
                       threshold=0.5, threshold_source="static", anomalous=anomalous,
                       model_version="t", sent_ms=sent, received_ms=sent + 1,
                       published_ms=sent + 10)


def truth(patient: str, seq: int, label: int, onset: int | None = None,
          mode: str = "beat") -> ManifestRecord:
    return ManifestRecord(mode, patient, seq, onset, 140, seq, label, 5 if mode == "beat" else None)


def test_detection_metrics() -> None:
    m = detection_metrics([1, 1, 2, 3, 4], [False, True, True, True, False])
    assert m["confusion"] == {"tp": 2, "fp": 1, "fn": 1, "tn": 1}
    assert m["precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["recall"] == pytest.approx(2 / 3, abs=1e-6)


def test_beat_mode_accounting() -> None:
    manifest = [truth("a", 0, 1), truth("a", 1, 2), truth("b", 0, 2)]
    scores = [score("a", 0, False), score("a", 1, True), score("a", 1, True)]
    report = evaluate_run(manifest, scores, dead_lettered=0)
    assert (report["beats_scored"], report["missing"], report["duplicates"]) == (2, 1, 1)
    assert report["f1"] == 1.0
    assert report["latency_ms"]["p50"] == 10


def test_beat_mode_ignores_scores_of_another_run() -> None:
    report = evaluate_run([truth("a", 0, 1)], [score("a", 0, True, sent=99)], 0)
    assert report["missing"] == 1


@pytest.mark.parametrize(("true", "found", "pairs"), [
    ([0, 140, 280], [1, 139, 290], [(0, 0), (1, 1), (2, 2)]),
    ([0, 140, 280], [20, 140], [(1, 1)]),
    ([0, 140], [0, 5, 140], [(0, 0), (1, 2)]),
    ([], [3], []),
])
def test_onset_matching(true: list[int], found: list[int], pairs: list[tuple[int, int]]) -> None:
    import numpy as np

    assert _match_onsets(np.array(true), np.array(found), 14) == pairs


def test_continuous_segmentation_metrics() -> None:
    manifest = [truth("a", i, 2 if i == 1 else 1, onset=140 * i, mode="continuous")
                for i in range(4)]
    scores = [score("a", 0, False, 2, mode="continuous"),
              score("a", 1, True, 141, mode="continuous"),
              score("a", 2, False, 300, mode="continuous")]
    report = evaluate_run(manifest, scores, 0)
    assert report["segmentation_recall"] == 0.5
    assert report["segmentation_precision"] == pytest.approx(2 / 3, abs=1e-6)
    assert report["missing"] == 2 and report["f1"] == 1.0


def test_manifest_round_trip(tmp_path) -> None:
    path = tmp_path / "m.jsonl"
    with ManifestWriter(path, {"split": "x"}) as writer:
        writer.write(truth("a", 0, 1))
    header, records = read_manifest(path)
    assert header["split"] == "x" and header["manifest"] == 1 and records == [truth("a", 0, 1)]


def test_latency_without_beats_is_none_not_nan() -> None:
    import json

    from stream.evaluation import latency_ms

    assert latency_ms([]) == {"p50": None, "p95": None, "p99": None}
    json.loads(json.dumps(latency_ms([])), parse_constant=lambda c: 1 / 0)  # strict JSON
