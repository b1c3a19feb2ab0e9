"""The worker's composition root: model, threshold gate, Redis store, segmenters, Faust app."""

from __future__ import annotations

import logging
from typing import Any

from models.detector import load_detector
from stream.alerts.rule import AlertTracker
from stream.clients.probes import require_free_port, require_kafka
from stream.clients.topics import ensure_topics
from stream.observe.dashboard import Snapshots
from stream.observe.livefeed import LiveFeed
from stream.observe.metrics import WorkerMetrics
from stream.segmentation.pool import SegmenterPool
from stream.settings import Settings
from stream.thresholds.normal import NORMAL_VERSION
from stream.thresholds.normal_store import RedisNormalStore
from stream.thresholds.policy import ThresholdPolicy
from stream.thresholds.redis_store import RedisStatsStore, redis_client
from stream.worker.adapting import AdaptationGate
from stream.worker.app import create_app, worker_id
from stream.worker.pipeline import WorkerRuntime
from stream.worker.ready import ready_line
from stream.worker.scoring import BatchScorer, ThresholdGate

log = logging.getLogger(__name__)


def build_app(settings: Settings) -> tuple[Any, str]:
    """The Faust app with everything a worker needs, and the line to print once it is ready.

    Raises:
        ConfigError: the web port (``ECG_WORKER_WEB_PORT``) cannot be listened on, or a TLS
            file is missing or unreadable.
    """
    # The checkpoint first: a bad or tampered one is refused before anything else is touched.
    detector = load_detector(settings.checkpoint, runtime=settings.model_runtime,
                             num_threads=settings.torch_threads,
                             expected_sha256=settings.checkpoint_sha256)
    if settings.worker_web_port is not None:
        require_free_port(settings.bind_host, settings.worker_web_port, "ECG_WORKER_WEB_PORT")
    require_kafka(settings)
    ensure_topics(settings)
    detector.warm_up(settings.batch_size)
    policy = ThresholdPolicy.from_settings(settings, detector.threshold)
    client = redis_client(settings, socket_timeout=2.0)
    store = RedisStatsStore(client, settings.redis_key_prefix, settings.stats_ttl_s)
    gate = ThresholdGate(policy, store)
    normals = RedisNormalStore(client, settings.redis_key_prefix, NORMAL_VERSION,
                               settings.stats_ttl_s)
    adaptation = AdaptationGate(normals, settings.learning_s, NORMAL_VERSION)
    wid = worker_id()
    scorer = BatchScorer(detector.score, gate, detector.version, wid, adaptation=adaptation)
    segmenters = SegmenterPool(settings)
    log.info("worker %s: model %s, threshold %.5f, policy %s", wid, detector.version,
             detector.threshold, policy)
    metrics = WorkerMetrics()
    metrics.watch_segmenters(segmenters)
    metrics.set_model(detector.version, detector.runtime_name, detector.threshold)
    dashboard = None
    if settings.worker_web_port is not None:
        tracker = AlertTracker(settings.alert_m, settings.alert_n, settings.alert_cooldown_s)
        dashboard = Snapshots(LiveFeed(tracker), detector.reconstruct,
                              {"worker": wid, "model_version": detector.version,
                               "threshold": detector.threshold})
    feed = dashboard.feed if dashboard is not None else None
    app = create_app(settings, lambda publish: WorkerRuntime(settings, scorer, publish,
                                                             segmenters, wid, metrics, feed),
                     metrics, dashboard)
    return app, ready_line(settings, wid, detector.version)
