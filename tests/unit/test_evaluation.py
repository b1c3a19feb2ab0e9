"""Joining a run's outputs with its manifest: missing, duplicates, onset matching, metrics."""

from __future__ import annotations

import pytest

from producers.manifest import ManifestRecord, ManifestWriter, read_manifest
from stream.runs.evaluation import detection_metrics, evaluate_run
from stream.segmentation.quality import match_onsets
from stream.wire.schemas import ScoreRecord


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

    assert match_onsets(np.array(true), np.array(found), 14) == pairs


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

    from stream.runs.evaluation import latency_ms

    assert latency_ms([]) == {"p50": None, "p95": None, "p99": None}
    json.loads(json.dumps(latency_ms([])), parse_constant=lambda c: 1 / 0)  # strict JSON


def _recut(patient: str, seq: int, onset: int, published: int, worker: str,
           anomalous: bool = False, length: int | None = None) -> ScoreRecord:
    return ScoreRecord(patient=patient, mode="continuous", seq=seq, onset_sample=onset,
                       score=1.0, threshold=0.5, threshold_source="static", anomalous=anomalous,
                       model_version="t", resampled_from=length, sent_ms=5, received_ms=6,
                       published_ms=published, worker=worker)


def test_continuous_recut_after_an_owner_change_is_a_duplicate_not_a_new_beat() -> None:
    # Beats 0-9 of one patient; the first owner cut 0-6, the new owner re-cut 4-9 from seq 0,
    # its onsets up to 14 samples off (what a crash gave), published later.
    manifest = [truth("p3", i, 1, onset=140 * i, mode="continuous") for i in range(10)]
    first = [_recut("p3", i, 140 * i, 100 + i, "w1") for i in range(7)]
    offsets = {4: 14, 5: -14, 6: 9}
    second = [_recut("p3", i - 4, 140 * i + offsets.get(i, 0), 900 + i, "w2")
              for i in range(4, 10)]
    report = evaluate_run(manifest, first + second, 0)
    assert report["duplicates"] == 3 and report["missing"] == 0
    assert report["segmentation_precision"] == 1.0 and report["segmentation_recall"] == 1.0
    assert report["beats_scored"] == 10


def test_the_first_published_record_of_a_beat_represents_it() -> None:
    manifest = [truth("p", 0, 2, onset=1000, mode="continuous")]
    scores = [_recut("p", 0, 1010, 500, "w2", anomalous=False),   # re-cut, published later
              _recut("p", 3, 1002, 100, "w1", anomalous=True)]    # first published
    report = evaluate_run(manifest, scores, 0)
    assert report["duplicates"] == 1 and report["confusion"]["tp"] == 1


def test_same_beat_tolerance_is_a_fraction_of_the_beat_and_never_merges_neighbours() -> None:
    from stream.wire.identity import beat_clusters, distinct_beats, onset_tolerance

    assert onset_tolerance(140) == 42 and onset_tolerance(360) == 108
    one_owner = [_recut("p", i, 84 * i, i, "w", length=84) for i in range(5)]  # short beats
    assert [len(g) for g in beat_clusters(one_owner)] == [1] * 5
    recut = [_recut("p", 0, 43, 9, "w2")]  # 43 > 42 samples from the 140-sample beat at 0
    assert distinct_beats([_recut("p", 0, 0, 1, "w1"), *recut]) == 2
    beats = [score("a", 1, True), score("a", 1, True), score("a", 2, True)]
    assert distinct_beats(beats + [_recut("p", 0, 0, 1, "w1"), _recut("p", 0, 30, 2, "w2")]) == 3
