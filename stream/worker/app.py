"""The Faust application: the one module that creates the app, its topics and agents.

Agents stay thin: they micro-batch raw records with ``stream.take_events`` (size and
``within`` bound from settings) and hand them to :class:`stream.worker.pipeline.WorkerRuntime`.
Outputs are awaited before the loop body ends, so offsets are committed only after a beat's
outputs were produced (at-least-once). Agent concurrency stays 1 (faust #606): scale with
partitions and worker processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, cast

import faust

from stream.clients.kafka import faust_broker_url, faust_credentials
from stream.observe.dashboard import add_dashboard, exposure_warning
from stream.observe.metrics import CONTENT_TYPE
from stream.settings import Settings
from stream.thresholds.journal import JournalMerger, JournalStore, encode_journal
from stream.wire.decode import RawInput
from stream.wire.schemas import now_ms
from stream.worker.health import consumer_lags, health_report
from stream.worker.pipeline import BatchResult, WorkerRuntime

if TYPE_CHECKING:
    from stream.observe.dashboard import Snapshots
    from stream.observe.metrics import WorkerMetrics

log = logging.getLogger(__name__)
STOP_GRACE_S = 20.0
EXIT_ABANDONED = 75  # EX_TEMPFAIL: the batch will be redelivered after a restart


def _abandon(size: int, exc: BaseException) -> None:
    """Exit at once, before Faust can commit the offsets of a batch whose outputs failed."""
    log.critical("abandoning the in-flight batch of %d records (%r): exiting without "
                 "committing its offsets; they will be redelivered", size, exc)
    logging.shutdown()
    os._exit(EXIT_ABANDONED)


async def run_batch(work: Awaitable[object], size: int) -> None:
    """Run one micro-batch so that its offsets are acknowledged only after its outputs.

    ``stream.take_events`` acknowledges a batch's events when the loop body ends, even when
    it ends by an exception or by cancellation at shutdown. So the work is shielded: on
    SIGTERM the in-flight batch is finished (within ``STOP_GRACE_S``) before the agent stops,
    and a batch that fails or cannot finish makes the process exit without a commit.
    """
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        log.warning("stopping: finishing the in-flight batch of %d records first", size)
        try:
            await asyncio.wait_for(task, timeout=STOP_GRACE_S)
        except Exception as exc:  # noqa: BLE001 - any failure here must not commit
            _abandon(size, exc)
        log.warning("stopping: in-flight batch of %d records published", size)
        raise
    except Exception as exc:  # noqa: BLE001
        _abandon(size, exc)


def _raw(app: faust.App, name: str, partitions: int) -> Any:
    return app.topic(name, key_serializer="raw", value_serializer="raw", partitions=partitions)


def _records(events: list[Any]) -> list[RawInput]:
    received = now_ms()
    return [RawInput(e.message.topic, e.message.partition, e.message.offset, e.message.key,
                     e.message.value, received) for e in events]


def web_options(settings: Settings) -> dict[str, Any]:
    """Faust's web server settings: ours on ``ECG_BIND_HOST``, none of Faust's own pages.

    Faust's ``/router/``, ``/table/``, statistics, ``/graph`` and ``/performance/`` pages
    (topology, table data, sensor counters) are turned off: this app has no tables and does
    not route requests between workers. ``/`` answers ``{"status": "OK"}``.
    """
    return {"web_enabled": settings.worker_web_port is not None,
            "web_port": settings.worker_web_port or 6066, "web_bind": settings.bind_host,
            "web_router_enabled": False, "web_tables_enabled": False,
            "web_stats_enabled": False, "web_graph_enabled": False,
            "web_metrics_enabled": False}


class _Runtime:
    """The worker runtime, built on first use by ``factory(publish)``."""

    def __init__(self, factory: Any) -> None:
        self._factory = factory
        self._runtime: WorkerRuntime | None = None
        self.publish: Any = None

    def __call__(self) -> WorkerRuntime:
        if self._runtime is None:
            self._runtime = self._factory(self.publish)
        return self._runtime


def _faust_app(settings: Settings) -> faust.App:
    return faust.App(
        settings.worker_group, broker=faust_broker_url(settings),
        broker_credentials=faust_credentials(settings), store="memory://",
        datadir=settings.state_dir / "faust" / f"{settings.worker_group}-{socket.gethostname()}"
                                               f"-{os.getpid()}",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication,
        consumer_auto_offset_reset="earliest", producer_linger_ms=5,
        **web_options(settings),
        # After a crash (no LeaveGroup), the group waits this long before giving the dead
        # worker's partitions to the others: the crash-recovery time. Faust's default is 60 s.
        broker_session_timeout=settings.worker_session_timeout_s,
        broker_heartbeat_interval=settings.worker_session_timeout_s / 3,
        stream_buffer_maxsize=max(4096, 4 * settings.batch_size),
        processing_guarantee=settings.processing_guarantee,
    )


def _publisher(app: faust.App, settings: Settings, runtime: _Runtime) -> Any:
    async def publish(result: BatchResult) -> None:
        # Straight to Faust's producer (aiokafka): one buffered send per record, then wait for
        # every delivery before the agent's loop body ends (and its offsets may commit).
        # In exactly-once mode this is Faust's transaction manager (one transactional producer
        # per input partition); otherwise the app's producer.
        send = (await app.maybe_start_producer()).send
        futures = []
        for topic, records in ((settings.topic_scores, result.scores),
                               (settings.topic_anomalies, result.anomalies)):
            for record in records:
                value = record.model_dump_json(by_alias=True).encode()
                futures.append(await send(topic, record.patient.encode(), value, None, None, None))
        for event in result.signal_events:
            value = event.model_dump_json(by_alias=True).encode()
            futures.append(await send(settings.topic_events, event.patient.encode(), value,
                                      None, None, None))
        for letter in result.dead:
            key = letter.key.encode() if letter.key else None
            value = letter.model_dump_json(by_alias=True).encode()
            futures.append(await send(settings.topic_deadletter, key, value, None, None, None))
        if result.journal:
            wid = runtime().worker
            value = encode_journal(result.journal, wid, now_ms())
            futures.append(await send(settings.topic_stats_journal, wid.encode(), value, None,
                                      None, None))
        await asyncio.gather(*futures)

    return publish


def _add_agents(app: faust.App, settings: Settings, runtime: _Runtime) -> None:
    parts = settings.topic_partitions
    beats_in = _raw(app, settings.topic_beats, parts)
    signal_in = _raw(app, settings.topic_signal, parts)
    journal_in = _raw(app, settings.topic_stats_journal, parts)
    within = settings.batch_within_ms / 1000.0
    mergers: dict[str, JournalMerger] = {}

    @app.agent(beats_in, name="score-beats")
    async def score_beats(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_size, within=within):
            await run_batch(runtime().handle_beats(_records(events)), len(events))

    @app.agent(signal_in, name="segment-signal")
    async def segment_signal(stream: Any) -> None:
        async for events in stream.take_events(settings.batch_size, within=within):
            await run_batch(runtime().handle_frames(_records(events)), len(events))

    @app.agent(journal_in, name="merge-stats-journal")
    async def merge_stats_journal(stream: Any) -> None:
        # One record at a time; a record is acknowledged only once Redis took it (offset-
        # guarded, so a record merged before a crash is not counted twice on redelivery).
        async for event in stream.events():
            store = runtime().scorer.gate.store
            if store is None:
                continue
            # The gate's store is the worker's RedisStatsStore (compose.build_app), which also
            # merges journal records; the gate itself types it by what it calls (StatsStore).
            merger = mergers.setdefault("merger", JournalMerger(cast(JournalStore, store)))
            m = event.message
            await run_batch(merger.apply(m.topic, m.partition, m.offset, m.value), 1)

    @app.task
    async def warm_up() -> None:
        # Before the group hands out partitions: connect to Redis and load the merge script,
        # and fetch the output topics' metadata, so the first batches pay neither.
        try:
            store = getattr(runtime().scorer.gate, "store", None)
            if store is not None:
                await store.prepare()
            producer = await app.maybe_start_producer()
            client = producer._ensure_producer()  # noqa: SLF001 - aiokafka producer; no accessor
            for topic in (settings.topic_scores, settings.topic_anomalies,
                          settings.topic_deadletter, settings.topic_stats_journal,
                          settings.topic_events):
                await client.partitions_for(topic)
        except Exception as exc:  # noqa: BLE001 - a failed warm-up only costs the first batch
            log.warning("warm-up incomplete (%r); the first batch will pay the rest", exc)

    @app.timer(interval=0.5, name="flush-idle-patients")
    async def flush_idle() -> None:
        await run_batch(runtime().flush_idle(), 0)


def _add_pages(app: faust.App, settings: Settings, runtime: _Runtime,
               metrics: WorkerMetrics | None, dashboard: Snapshots | None) -> None:
    @app.page("/health")
    async def health(web: Any, request: Any) -> Any:
        report = await health_report(settings, runtime())
        return web.json(report, status=503 if report["status"] == "down" else 200)

    if metrics is not None:

        @app.page("/metrics")
        async def metrics_page(web: Any, request: Any) -> Any:
            return web.bytes(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE})

    if dashboard is not None:
        add_dashboard(app, dashboard, settings.web_token)
        warning = exposure_warning(settings.bind_host, settings.web_token)
        if warning:
            log.warning(warning)

    if metrics is not None or dashboard is not None:
        @app.timer(interval=2.0, name="consumer-lag")
        async def consumer_lag() -> None:
            lags = consumer_lags(app.consumer, (settings.topic_beats, settings.topic_signal))
            if metrics is not None:
                metrics.set_lag(lags)
            if dashboard is not None:
                dashboard.feed.set_lag(lags, now_ms() // 1000)


def create_app(settings: Settings, runtime_factory: Any,
               metrics: WorkerMetrics | None = None,
               dashboard: Snapshots | None = None) -> faust.App:
    """The worker app; ``runtime_factory(publish) -> WorkerRuntime`` is called on start-up.

    With ``ECG_WORKER_WEB_PORT`` set, Faust's web server (on ``ECG_BIND_HOST``) also serves
    ``/health`` (JSON; HTTP 503 when no broker is reachable), given ``metrics`` ``/metrics``
    (Prometheus), and given ``dashboard`` the live dashboard at ``/dashboard/`` (behind
    ``ECG_WEB_TOKEN`` when set).
    """
    app = _faust_app(settings)
    runtime = _Runtime(runtime_factory)
    runtime.publish = _publisher(app, settings, runtime)
    _add_agents(app, settings, runtime)
    _add_pages(app, settings, runtime, metrics, dashboard)
    return app


def worker_id() -> str:
    """host:pid of this worker process, carried by every record it publishes."""
    return f"{socket.gethostname()}:{os.getpid()}"
