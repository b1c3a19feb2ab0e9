"""``ecg-stream worker``: build the scorer, threshold gate and Faust app, then run the worker."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import click

from stream.settings import Settings

log = logging.getLogger(__name__)


def build_app(settings: Settings) -> Any:
    """The Faust app with everything a worker needs (model loaded, Redis store attached)."""
    from models.detector import load_detector
    from stream.clients.probes import require_kafka
    from stream.clients.topics import ensure_topics
    from stream.observe.metrics import WorkerMetrics
    from stream.segmentation.pool import SegmenterPool
    from stream.thresholds.policy import ThresholdPolicy
    from stream.thresholds.redis_store import RedisStatsStore, redis_client
    from stream.worker.app import create_app, worker_id
    from stream.worker.pipeline import WorkerRuntime
    from stream.worker.scoring import BatchScorer, ThresholdGate

    # The checkpoint first: a bad or tampered one is refused before anything else is touched.
    detector = load_detector(settings.checkpoint, runtime=settings.model_runtime,
                             num_threads=settings.torch_threads,
                             expected_sha256=settings.checkpoint_sha256)
    require_kafka(settings)
    ensure_topics(settings)
    detector.warm_up(settings.batch_size)
    policy = ThresholdPolicy.from_settings(settings, detector.threshold)
    store = RedisStatsStore(redis_client(settings, socket_timeout=2.0), settings.redis_key_prefix,
                            settings.stats_ttl_s)
    gate = ThresholdGate(policy, store)
    wid = worker_id()
    scorer = BatchScorer(detector.score, gate, detector.version, wid)
    segmenters = SegmenterPool(settings)
    log.info("worker %s: model %s, threshold %.5f, policy %s", wid, detector.version,
             detector.threshold, policy)
    metrics = WorkerMetrics()
    metrics.watch_segmenters(segmenters)
    metrics.set_model(detector.version, detector.runtime_name, detector.threshold)
    dashboard = None
    if settings.worker_web_port is not None:
        from stream.alerts.rule import AlertTracker
        from stream.observe.dashboard import Snapshots
        from stream.observe.livefeed import LiveFeed

        tracker = AlertTracker(settings.alert_m, settings.alert_n, settings.alert_cooldown_s)
        dashboard = Snapshots(LiveFeed(tracker), detector.reconstruct,
                              {"worker": wid, "model_version": detector.version,
                               "threshold": detector.threshold})
    feed = dashboard.feed if dashboard is not None else None
    return create_app(settings, lambda publish: WorkerRuntime(settings, scorer, publish,
                                                              segmenters, wid, metrics, feed),
                      metrics, dashboard)


@click.command("worker")
@click.option("--loglevel", default="warning", show_default=True,
              type=click.Choice(["debug", "info", "warning", "error"]))
@click.pass_obj
def worker(settings: Settings, loglevel: str) -> None:
    """Run a Faust worker: score ecg.beats and segment+score ecg.signal.

    Several workers may run: they share the consumer group (ECG_WORKER_GROUP), split the
    partitions, and share the Redis statistics. Stop with SIGTERM or Ctrl-C.

    \b
    Examples:
      ecg-stream worker
      ECG_BATCH_SIZE=128 ECG_BATCH_WITHIN_MS=20 ecg-stream worker --loglevel info
    """
    import faust

    app = build_app(settings)
    runner = faust.Worker(app, loglevel=loglevel, quiet=True)
    # Faust's progress spinner lowers the root logger to DEBUG, which makes every debug call
    # on the hot path build a log record (measured: ~5 % of the worker's CPU). No spinner.
    runner.spinner = None
    _run_in_datadir(runner, Path(app.conf.datadir))


def _run_in_datadir(runner: Any, datadir: Path) -> None:
    """Run the worker with its own Faust data folder under the state dir; remove it after.

    The folder (``ECG_STATE_DIR/faust/<group>-<host>-<pid>``) holds nothing that outlives the
    process (tables are in memory), so it goes on every exit that runs Python's clean-up,
    clean or not; a killed worker (SIGKILL, or exit 75) leaves an empty one behind.
    """
    datadir.parent.mkdir(parents=True, exist_ok=True)
    try:
        runner.execute_from_commandline()
    finally:
        shutil.rmtree(datadir, ignore_errors=True)
