"""Beat mode end to end: replay -> Kafka -> Faust worker -> Kafka, against offline scoring."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import redis

from producers.manifest import read_manifest
from producers.runner import run_replay
from stream.runs.evaluation import evaluate_run
from stream.runs.outputs import read_outputs
from stream.settings import Settings


def _run(settings: Settings, manifest: Path, patients: int, rate: float = 0.0):
    run_replay(settings, "seed-test", manifest, mode="beat", patients=patients, rate=rate)
    header, records = read_manifest(manifest)
    scores, dead = read_outputs(settings, header["started_ms"] - 1000, len(records),
                                idle_timeout=20.0, timeout=300.0)
    return records, scores, dead


@pytest.fixture(scope="module")
def offline() -> tuple[np.ndarray, np.ndarray, float]:
    """Offline scores of all 5000 rows with the shipped checkpoint (as stored, and after the
    worker's own z-normalization), and its threshold."""
    from models.data import load_ecg5000
    from models.detector import load_detector
    from models.preprocess import znormalize

    settings = Settings()
    data = load_ecg5000(settings.data_dir, settings.cache_dir)
    detector = load_detector(settings.checkpoint, runtime=settings.model_runtime)
    beats = np.concatenate([data.train.beats, data.test.beats])
    return detector.score(beats), detector.score(znormalize(beats)), detector.threshold


def test_whole_seed_test_split_matches_offline(pipeline_settings: Callable[..., Settings],
                                               workers, tmp_path: Path, offline) -> None:
    settings = pipeline_settings(threshold_mode="static")
    workers(settings, 1)
    records, scores, dead = _run(settings, tmp_path / "manifest.jsonl", patients=16)

    assert len(records) == 2226  # 145 test normals + 2081 anomalies
    assert dead == []
    identity = Counter((s.patient, s.seq) for s in scores)
    assert len(identity) == len(records) and max(identity.values()) == 1, "each beat scored once"
    by_id = {(s.patient, s.seq): s for s in scores}
    stored, normalized, threshold = offline
    rows = [r.source_row for r in records]
    stream_scores = np.array([by_id[(r.patient, r.seq)].score for r in records])
    # The same float32 samples reach the worker (exact transport), which z-normalizes them
    # as it would any input: identical to offline scoring of the same preprocessing...
    np.testing.assert_allclose(stream_scores, normalized[rows], atol=1e-4, rtol=0)
    # ...and, against the stored (already normalized) beats, equal to float32 precision of
    # the re-normalization (relative 1e-5), with the very same decisions.
    np.testing.assert_allclose(stream_scores, stored[rows], rtol=1e-5)
    decisions = np.array([by_id[(r.patient, r.seq)].anomalous for r in records])
    assert (decisions == (stored[rows] > threshold)).all()
    report = evaluate_run(records, scores, len(dead))
    assert report["missing"] == 0 and report["duplicates"] == 0
    assert all(s.threshold == pytest.approx(threshold) for s in scores)


def test_two_workers_four_partitions_share_redis(pipeline_settings: Callable[..., Settings],
                                                 workers, tmp_path: Path) -> None:
    settings = pipeline_settings(topic_partitions=4, stats_update_on_anomaly=True)
    procs = workers(settings, 2)
    records, scores, dead = _run(settings, tmp_path / "manifest.jsonl", patients=32, rate=2000)

    report = evaluate_run(records, scores, len(dead))
    assert report["missing"] == 0 and dead == []
    assert len({s.worker for s in scores}) == 2, "both workers scored beats"
    duplicates = len(scores) - len({(s.patient, s.seq) for s in scores})
    assert duplicates == report["duplicates"]
    client = redis.Redis.from_url(settings.redis_url)
    count = int(float(client.hget(f"{settings.redis_key_prefix}:stats:global", "count")))
    client.close()
    # Every score record (duplicates included: a re-scored beat is merged again) enters the
    # global statistics once, since anomalous beats update them too in this configuration.
    assert count == len(scores)
    assert all(p.poll() is None for p in procs)
