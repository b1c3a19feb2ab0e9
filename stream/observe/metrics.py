"""Prometheus metrics of a worker (prometheus-client), served by Faust's web server.

Names (all prefixed ``ecg_``; counters end in ``_total`` in the exposition):

| metric | type | labels | meaning |
|---|---|---|---|
| ``ecg_records_in_total`` | counter | ``mode`` | input records consumed (beats or frames) |
| ``ecg_beats_scored_total`` | counter | ``mode`` | beats scored and published |
| ``ecg_anomalies_total`` | counter | ``mode`` | beats judged anomalous |
| ``ecg_dead_letters_total`` | counter | ``reason`` | records sent to the dead-letter topic |
| ``ecg_batch_size_beats`` | histogram | | beats per model call |
| ``ecg_inference_seconds`` | histogram | | one model call (scoring a micro-batch) |
| ``ecg_end_to_end_latency_seconds`` | histogram | ``mode`` | producer send to score published |
| ``ecg_consumer_lag_records`` | gauge | ``topic``, ``partition`` | records not yet read |
| ``ecg_redis_degraded`` | gauge | | 1 while Redis is unreachable (static threshold) |
| ``ecg_model_info`` | info | ``version``, ``runtime``, ``threshold`` | the loaded checkpoint |
| ``ecg_segmenter_events_total`` | counter | ``reason`` | segmenter events (see below) |
| ``ecg_segmenter_patients`` | gauge | | patients whose segmenter the worker holds |
| ``ecg_segmenter_state_bytes`` | gauge | | their estimated state (``ECG_SEGMENTER_MAX_BYTES``) |
| ``ecg_segmenter_rate_bytes`` | gauge | | per-rate beat-shape stacks held |

``ecg_segmenter_events_total`` counts continuous-mode stream irregularities (``gap``,
``partial_beat``, ...; docs/continuous-mode.md) and patients dropped: ``evicted`` (byte budget
or rate cache; their last beat is still scored) and ``expired`` (idle); ``finish_failed``: closing
a patient's last beat raised (logged, that tail not scored).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from stream.wire.schemas import DeadLetter, ScoreRecord

if TYPE_CHECKING:
    from stream.segmentation.pool import SegmenterPool

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
INFERENCE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

__all__ = ["CONTENT_TYPE", "WorkerMetrics"]


class WorkerMetrics:
    """One worker's metrics in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.records_in = Counter("ecg_records_in", "Input records consumed", ["mode"],
                                  registry=r)
        self.beats_scored = Counter("ecg_beats_scored", "Beats scored and published", ["mode"],
                                    registry=r)
        self.anomalies = Counter("ecg_anomalies", "Beats judged anomalous", ["mode"], registry=r)
        self.dead_letters = Counter("ecg_dead_letters", "Records sent to the dead-letter topic",
                                    ["reason"], registry=r)
        self.batch_size = Histogram("ecg_batch_size_beats", "Beats per model call",
                                    buckets=BATCH_BUCKETS, registry=r)
        self.inference = Histogram("ecg_inference_seconds", "Seconds of one model call",
                                   buckets=INFERENCE_BUCKETS, registry=r)
        self.latency = Histogram("ecg_end_to_end_latency_seconds",
                                 "Producer send to score published, seconds", ["mode"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.lag = Gauge("ecg_consumer_lag_records", "High watermark minus next offset to read",
                         ["topic", "partition"], registry=r)
        self.degraded = Gauge("ecg_redis_degraded", "1 while Redis is unreachable", registry=r)
        self.model = Info("ecg_model", "The loaded checkpoint", registry=r)

    def set_model(self, version: str, runtime: str, threshold: float) -> None:
        """Record the loaded checkpoint."""
        self.model.info({"version": version, "runtime": runtime, "threshold": f"{threshold:g}"})

    def observe_batch(self, mode: str, records: int, scores: Iterable[ScoreRecord],
                      dead: Iterable[DeadLetter], inference_s: float | None,
                      degraded: bool) -> None:
        """Account for one processed micro-batch."""
        scored = list(scores)
        if records:
            self.records_in.labels(mode).inc(records)
        if scored:
            self.beats_scored.labels(mode).inc(len(scored))
            anomalies = sum(record.anomalous for record in scored)
            if anomalies:
                self.anomalies.labels(mode).inc(anomalies)
            self.batch_size.observe(len(scored))
            latency = self.latency.labels(mode)
            for record in scored:
                latency.observe(max(record.published_ms - record.sent_ms, 0) / 1000)
        if inference_s is not None and scored:
            self.inference.observe(inference_s)
        for letter in dead:
            self.dead_letters.labels(letter.reason).inc()
        self.degraded.set(1.0 if degraded else 0.0)

    def set_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Replace the per-partition lag with the current assignment's."""
        self.lag.clear()
        for (topic, partition), lag in lags.items():
            self.lag.labels(topic, str(partition)).set(max(lag, 0))

    def watch_segmenters(self, pool: SegmenterPool) -> None:
        """Expose the segmenter pool's events, patients and bytes, read at each scrape."""
        self.registry.register(_SegmenterCollector(pool))

    def exposition(self) -> bytes:
        """The Prometheus text exposition of this registry."""
        return generate_latest(self.registry)


class _SegmenterCollector(Collector):
    """Reads a :class:`~stream.segmentation.pool.SegmenterPool` when scraped (same event loop)."""

    def __init__(self, pool: SegmenterPool) -> None:
        self.pool = pool

    def collect(self) -> Iterator[Metric]:
        """The pool's counters and gauges now."""
        pool = self.pool
        events = CounterMetricFamily("ecg_segmenter_events", "Continuous-mode segmenter events",
                                     labels=["reason"])
        for reason, count in sorted(dict(pool.events).items()):
            events.add_metric([reason], count)
        yield events
        yield GaugeMetricFamily("ecg_segmenter_patients", "Patients with a segmenter",
                                value=len(pool))
        yield GaugeMetricFamily("ecg_segmenter_state_bytes", "Estimated per-patient state bytes",
                                value=pool.nbytes)
        yield GaugeMetricFamily("ecg_segmenter_rate_bytes", "Per-rate beat-shape stacks bytes",
                                value=pool.plans.nbytes)
