"""The demo's verdict: kept up or fell behind, the thresholds in force, the summary lines."""

from __future__ import annotations

from typing import Any

from stream.runs.evaluation import frame_latency_ms, latency_ms
from stream.runs.verdict import EXIT_BEHIND, EXIT_FAILED, EXIT_OK, assess, summary_lines
from stream.wire.schemas import ScoreRecord


def _report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "mode": "beat", "beats_sent": 2226, "beats_scored": 2226, "missing": 0,
        "duplicates": 0, "dead_lettered": 0, "precision": 0.99, "recall": 0.94, "f1": 0.9624,
        "offline_f1": 0.9624, "decisions_match_offline": 2226, "anomalies": 1990, "alerts": 12,
        "threshold_mode": "adaptive", "threshold_sources": {"static": 2226},
        "latency_ms": {"p50": 45.0, "p95": 90.0, "p99": 130.0},
        "beat_latency_ms": {"p50": 45.0, "p95": 90.0, "p99": 130.0},
        "frame_latency_ms": {"p50": 45.0, "p95": 90.0, "p99": 130.0},
        "throughput_beats_per_s": 930.0, "offered_rate_beats_per_s": 1000.0,
        "replay_beats_per_s": 998.0, "patients": 32, "worker_ready_s": 3.2,
        "worker_exit_code": 0, "manifest": "artifacts/demo-manifest.jsonl"}
    report.update(changes)
    return report


def test_a_run_that_kept_up_passes_and_says_so_in_one_line() -> None:
    report = assess(_report())
    assert (report["exit_code"], report["kept_up"]) == (EXIT_OK, True)
    lines = summary_lines(report)
    assert lines[0] == ("demo (beat mode, 32 patients): OK: every one of the 2,226 beats "
                        "scored once")
    text = "\n".join(lines)
    assert "{" not in text and "None" not in text  # no Python reprs
    assert "beat p50 / p95 / p99 45 / 90 / 130 ms" in text


def test_falling_behind_is_said_plainly_and_exits_3() -> None:
    # What the continuous demo once printed with exit 0: p50 9.9 s, 131 of 1,000 beats/s.
    report = assess(_report(mode="continuous", throughput_beats_per_s=131.0,
                            latency_ms={"p50": 9900.0, "p95": 15000.0, "p99": 16000.0},
                            threshold_sources=None, judged_by={"model": 2000},
                            segmentation_recall=0.99, segmentation_precision=1.0))
    assert report["exit_code"] == EXIT_BEHIND and report["kept_up"] is False
    assert report["verdict"].startswith("FELL BEHIND: ")
    assert "scored 131 beats/s of the 1,000 offered" in report["verdict"]
    assert "median beat latency was 9.9 s" in report["verdict"]


def test_a_replay_short_of_the_offered_rate_is_not_kept_up() -> None:
    report = assess(_report(replay_beats_per_s=400.0, throughput_beats_per_s=400.0))
    assert report["exit_code"] == EXIT_BEHIND
    assert "the replay sent 400 beats/s of the 1,000 offered" in report["verdict"]


def test_lost_beats_or_a_failed_worker_fail() -> None:
    lost = assess(_report(missing=3, beats_scored=2223))
    assert lost["exit_code"] == EXIT_FAILED and "3 beats were never scored" in lost["verdict"]
    crashed = assess(_report(worker_exit_code=75))
    assert crashed["exit_code"] == EXIT_FAILED and "exited with 75" in crashed["verdict"]


def test_no_offered_rate_has_nothing_to_keep_up_with() -> None:
    report = assess(_report(offered_rate_beats_per_s=0.0, throughput_beats_per_s=2500.0))
    assert report["kept_up"] is None and report["exit_code"] == EXIT_OK


def test_the_thresholds_in_force_are_named_when_not_what_the_mode_suggests() -> None:
    static = assess(_report())
    assert static["thresholds_in_force"] == "static"
    assert "every beat was judged on the checkpoint's static threshold" in static["notes"][0]
    mixed = assess(_report(threshold_sources={"static": 2000, "patient": 226}))
    assert (mixed["thresholds_in_force"], mixed["notes"]) == ("mixed", [])
    fixed = assess(_report(threshold_mode="static"))
    assert fixed["notes"] == []
    learning = assess(_report(mode="continuous", threshold_sources=None,
                              judged_by={"learning": 10, "patient": 90},
                              segmentation_recall=1.0, segmentation_precision=1.0))
    assert learning["thresholds_in_force"] == "learning+patient"


def _score(sent: int, cut: int | None, published: int) -> ScoreRecord:
    return ScoreRecord(patient="p", mode="continuous", seq=0, onset_sample=0, score=1.0,
                       threshold=2.0, threshold_source="static", anomalous=False,
                       model_version="m", sent_ms=sent, frame_sent_ms=cut, received_ms=cut or 0,
                       published_ms=published)


def test_frame_latency_starts_at_the_frame_that_completed_the_beat() -> None:
    scores = [_score(1000, 1750, 1800), _score(2000, 2500, 2560)]
    assert latency_ms(scores)["p50"] == 680.0
    assert frame_latency_ms(scores)["p50"] == 55.0
    assert frame_latency_ms([_score(1000, None, 1100)])["p50"] == 100.0  # beat mode
