"""The demo run: services, a worker, the test split replayed, outputs judged, clean-up."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from models.data import load_ecg5000
from models.preprocess import znormalize
from producers.manifest import read_manifest
from producers.replay import Mode, ReplayOptions
from producers.runner import replay
from stream.alerts.rule import AlertTracker
from stream.clients.redis import sync_redis
from stream.runs.evaluation import beat_pairs, detection_metrics, evaluate_run
from stream.runs.lifecycle import Lifecycle
from stream.runs.outputs import read_outputs
from stream.runs.processes import wait_group_stable
from stream.settings import Settings

log = logging.getLogger(__name__)


def offline_scores(settings: Settings, rows: list[int]) -> tuple[np.ndarray, np.ndarray, float]:
    """Labels and offline scores of source ``rows``, and the checkpoint's static threshold.

    The beats are z-normalized again first, as the worker does with any input (the stored
    ones already are, to float32 precision).
    """
    from models.detector import load_detector  # local: torch, keeps --help fast

    data = load_ecg5000(settings.data_dir, settings.cache_dir)
    beats = np.concatenate([data.train.beats, data.test.beats])[rows]
    labels = np.concatenate([data.train.labels, data.test.labels])[rows]
    detector = load_detector(settings.checkpoint, runtime=settings.model_runtime,
                             num_threads=settings.torch_threads)
    return labels, detector.score(znormalize(beats)), detector.threshold


def offline_agreement(settings: Settings, records: list[Any], scores: list[Any]
                      ) -> dict[str, Any]:
    """Beat mode: the stream's scores and decisions against the same beats scored offline.

    ``offline_f1`` uses the checkpoint's static threshold. In adaptive mode a beat may be
    judged against its patient's threshold instead; ``decisions_match_offline`` counts the
    beats whose offline score, judged against the threshold the stream used for that beat,
    gives the stream's decision, and ``max_score_diff`` is the largest score difference.
    """
    pairs, _, _ = beat_pairs(records, scores)
    rows = np.array([t.source_row for t, _ in pairs], dtype=np.int64)
    unique, where = np.unique(rows, return_inverse=True)  # a looped replay repeats rows
    labels, offline, static = offline_scores(settings, unique.tolist())
    labels, offline = labels[where], offline[where]
    live = np.array([s.score for _, s in pairs], dtype=np.float64)
    used = np.array([s.threshold for _, s in pairs], dtype=np.float64)
    decided = np.array([s.anomalous for _, s in pairs], dtype=bool)
    sources = Counter(s.threshold_source for _, s in pairs)
    return {
        "offline_f1": detection_metrics(labels, offline > static)["f1"],
        "threshold_mode": settings.threshold_mode,
        "static_threshold": round(static, 4),
        "threshold_sources": dict(sorted(sources.items())),
        "max_score_diff": float(np.abs(live - offline).max()) if len(pairs) else 0.0,
        "decisions_match_offline": int(((offline > used) == decided).sum()),
    }


def count_alerts(settings: Settings, scores: list[Any]) -> int:
    """Alerts the alert consumer's rule raises on this run's anomalous beats."""
    tracker = AlertTracker(settings.alert_m, settings.alert_n, settings.alert_cooldown_s,
                           idle_s=settings.alert_idle_s)
    anomalies = sorted((s for s in scores if s.anomalous),
                       key=lambda s: (s.published_ms, s.onset_sample or s.seq))
    return sum(tracker.observe(record) is not None for record in anomalies)


def drop_keys(settings: Settings, prefix: str) -> int:
    """Delete the Redis keys under ``prefix:`` (a demo run's statistics); return how many."""
    import redis  # local: keeps --help fast

    client = sync_redis(settings)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        return int(client.delete(*keys)) if keys else 0
    except (redis.RedisError, OSError) as exc:
        log.warning("could not delete the demo's Redis keys %s:*: %r", prefix, exc)
        return 0
    finally:
        client.close()


def demo_options(mode: Mode, rate: float, patients: int) -> ReplayOptions:
    """What the demo replays: ``ecg-stream replay``'s defaults (HRV included) but these."""
    return ReplayOptions(mode=mode, rate=rate, patients=patients)


def run_demo(settings: Settings, workdir: Path, mode: Mode, rate: float, patients: int,
             progress: bool) -> dict[str, Any]:
    """Run the whole pipeline once; return the summary (the ``demo --json`` document)."""
    # What starts here stops when the block ends, also on SIGINT/SIGTERM at any moment, in
    # reverse order: the worker, this run's Redis keys, the services this run started.
    with Lifecycle() as life:
        life.start_services(settings)
        # Threshold statistics of this run only: replayed patient ids repeat from run to run,
        # and a patient's statistics from an earlier demo would change this run's thresholds.
        prefix = f"{settings.redis_key_prefix}:demo:{uuid.uuid4().hex[:8]}"
        update: dict[str, object] = {"redis_key_prefix": prefix}
        if mode == "continuous":
            # The demo's signal is stitched ECG5000 beats, not a physiological ECG: the
            # template segmenter is the one made for it (docs/continuous-mode.md).
            update["segmenter"] = "templates"
        settings = settings.model_copy(update=update)
        life.callback(drop_keys, settings, prefix)
        manifest = workdir / "demo-manifest.jsonl"
        worker = life.start_worker(settings, workdir / "demo-worker.log")
        ready_s = wait_group_stable(settings, 1, [worker])
        sent = replay(settings, "seed-test", manifest, demo_options(mode, rate, patients),
                      progress)
        header, records = read_manifest(manifest)
        scores, dead = read_outputs(settings, header["started_ms"] - 1000, len(records),
                                    idle_timeout=15.0, timeout=600.0)
        code = life.stop_workers()[0]
    scores = [s for s in scores if s.mode == mode and s.sent_ms >= header["started_ms"] - 1000]
    report = evaluate_run(records, scores, len(dead))
    if mode == "beat":
        report.update(offline_agreement(settings, records, scores))
    else:
        report["threshold_mode"] = settings.threshold_mode
        report["judged_by"] = dict(sorted(Counter(s.judged_by for s in scores).items()))
    report["anomalies"] = sum(s.anomalous for s in scores)
    report["alerts"] = count_alerts(settings, scores)
    report.update(worker_ready_s=round(ready_s, 2), worker_exit_code=code,
                  offered_rate_beats_per_s=rate, replay_beats_per_s=sent["beats_per_s"],
                  patients=patients, manifest=str(manifest))
    return report
