"""Real recordings end to end: MIT-BIH record 100 through the broker, the worker and Redis.

The replay sends record 100 (lead MLII) as continuous frames at 40x real time; the worker's
QRS segmenter publishes each beat's fiducial; the run is scored against the cardiologists'
annotations (EC57: matched within 150 ms, minutes 5-30 and the whole record).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from producers.record_replay import RecordReplayOptions
from producers.runner import record_replay
from stream.runs.outputs import evaluate_manifest
from stream.settings import Settings

pytestmark = pytest.mark.integration


def _run(settings: Settings, record: Path, manifest: Path, **options: object) -> dict:
    opts = RecordReplayOptions(patients=1, speed=40.0, **options)  # type: ignore[arg-type]
    sent = record_replay(settings, [record.with_suffix(".hea")], "MLII", manifest, opts)
    assert sent["beats_sent"] == 2273 and sent["samples_skipped"] == 0
    return evaluate_manifest(settings, manifest, idle_timeout=15.0, timeout=300.0)


def _check(report: dict) -> None:
    overall = report["ec57"]["overall"]
    print(f"record 100: {report['beats_scored']} beats scored, dead {report['dead_lettered']}, "
          f"latency {report['latency_ms']}, EC57 {overall['all']['se']} / "
          f"{overall['all']['ppv']} (after learning {overall['after_learning']['se']} / "
          f"{overall['after_learning']['ppv']}); after learning by class "
          f"{ {c: r for c, r in overall['after_learning']['by_class'].items() if r['beats']} }")
    assert report["dead_lettered"] == 0 and report["without_fiducial"] == 0
    assert overall["after_learning"]["se"] >= 0.999
    assert overall["after_learning"]["ppv"] >= 0.999
    # The last annotated beat ends the record: it has no end, so it is no beat.
    assert overall["all"]["fp"] == 0 and overall["all"]["tp"] >= 2272
    # Rhythm in the worker's score records: the A beats (AAMI S) are premature, N beats not.
    classes = overall["after_learning"]["by_class"]
    assert classes["S"]["premature"] >= 0.9 * classes["S"]["detected"]
    assert classes["N"]["premature"] <= 0.01 * classes["N"]["detected"]
    # Judged against the patient's own normal after its learning period (5 minutes): few N
    # beats flagged for morphology, the V beat flagged.
    assert classes["N"]["morphology"] <= 0.01 * classes["N"]["detected"]
    assert classes["V"]["flagged"] == classes["V"]["detected"] == 1


def test_record_100_in_millivolts_at_360_hz(pipeline_settings: Callable[..., Settings], workers,
                                           mitdb_record: Path, tmp_path: Path) -> None:
    settings = pipeline_settings()
    workers(settings, 1)
    _check(_run(settings, mitdb_record, tmp_path / "manifest.jsonl"))


def test_record_100_resampled_to_250_hz_inverted_in_adc_counts(
        pipeline_settings: Callable[..., Settings], workers, mitdb_record: Path,
        tmp_path: Path) -> None:
    settings = pipeline_settings()
    workers(settings, 1)
    report = _run(settings, mitdb_record, tmp_path / "manifest.jsonl", resample=250.0,
                  units="adc", invert=True)
    _check(report)
