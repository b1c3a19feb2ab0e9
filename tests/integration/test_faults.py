"""Faults in the middle of a replay; after recovery every replayed beat is accounted for.

Each test replays beats in a background thread, injects one fault, recovers, reads every
output back and reports: beats sent, scored, duplicated (same beat identity scored twice),
dead-lettered, lost (must be 0) and the recovery time.
"""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from producers.manifest import read_manifest
from producers.runner import run_replay
from stream.clients.topics import ensure_topics
from stream.infra import kafka, redis_server
from stream.runs.outputs import read_outputs
from stream.runs.processes import start_worker, stop_worker, wait_group_stable
from stream.settings import Settings
from stream.thresholds.redis_store import redis_client
from stream.wire.schemas import ScoreRecord, now_ms
from tests.ports import free_port, free_ports

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("require_data")]



class Replay:
    """``run_replay`` in a thread; ``join`` re-raises its error."""

    def __init__(self, settings: Settings, manifest: Path, rate: float, **options: Any) -> None:
        self.manifest, self.error = manifest, None

        def target() -> None:
            try:
                run_replay(settings, "all", manifest, mode="beat", rate=rate, **options)
            except Exception as exc:  # noqa: BLE001 - reported by join
                self.error = exc

        self.thread = threading.Thread(target=target, daemon=True)
        self.thread.start()

    def join(self, timeout: float = 180.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "replay did not finish"
        assert self.error is None, f"replay failed: {self.error!r}"


@dataclass
class Accounting:
    sent: int
    scored: int
    duplicates: int
    dead_lettered: int
    lost: int
    scores: list[ScoreRecord]

    def report(self, name: str, recovery_s: float) -> None:
        print(f"{name}: sent {self.sent}, scored {self.scored}, duplicates {self.duplicates}, "
              f"dead-lettered {self.dead_lettered}, lost {self.lost}, "
              f"recovery {recovery_s:.1f} s")


def account(settings: Settings, manifest: Path) -> Accounting:
    """Join the outputs with the manifest by beat identity (patient, seq)."""
    header, records = read_manifest(manifest)
    scores, dead = read_outputs(settings, header["started_ms"] - 1000, len(records),
                                idle_timeout=30.0, timeout=300.0)
    seen = Counter((s.patient, s.seq) for s in scores)
    lost = sum((r.patient, r.seq) not in seen for r in records)
    return Accounting(len(records), len(seen), sum(n - 1 for n in seen.values()), len(dead),
                      lost, scores)


def first_after(scores: list[ScoreRecord], ms: int,
                keep: Callable[[ScoreRecord], bool] = lambda s: True) -> float:
    """Seconds from ``ms`` to the first output published after it that ``keep`` accepts."""
    later = [s.published_ms for s in scores if s.published_ms > ms and keep(s)]
    last = max((s.published_ms for s in scores), default=None)
    assert later, f"no output after the fault at {ms}: {len(scores)} outputs, last at {last}"
    return (min(later) - ms) / 1000


def test_worker_sigkill_mid_batch_then_restart(pipeline_settings: Callable[..., Settings],
                                               tmp_path: Path) -> None:
    settings = pipeline_settings(topic_partitions=2)
    first = start_worker(settings, tmp_path / "first.log")
    wait_group_stable(settings, 1, [first])
    replay = Replay(settings, tmp_path / "manifest.jsonl", rate=1500.0, patients=16)
    time.sleep(2.5)
    killed_ms = now_ms()
    first.send_signal(signal.SIGKILL)  # no shutdown code runs: offsets as last committed
    assert first.wait(timeout=30) == -signal.SIGKILL
    second = start_worker(settings, tmp_path / "second.log")
    try:
        replay.join()
        result = account(settings, replay.manifest)
    finally:
        stop_worker(second)
    result.report("SIGKILL", first_after(result.scores, killed_ms))
    assert result.sent == 5000 and result.dead_lettered == 0
    assert result.lost == 0
    assert result.scored == 5000


def test_second_worker_joins_and_leaves_mid_replay(pipeline_settings: Callable[..., Settings],
                                                   tmp_path: Path) -> None:
    settings = pipeline_settings(topic_partitions=4)
    first = start_worker(settings, tmp_path / "first.log")
    wait_group_stable(settings, 1, [first])
    # 25 s of replay: a worker's start-up (torch, checkpoint, warm-up) plus the rebalance took
    # up to 13 s on the 2-core CI machine, and the second worker must join *and* leave while
    # beats are still arriving (at 12.5 s of replay it once joined after the last beat).
    replay = Replay(settings, tmp_path / "manifest.jsonl", rate=200.0, patients=32)
    try:
        time.sleep(1.5)
        joined_ms = now_ms()
        second = start_worker(settings, tmp_path / "second.log")
        wait_group_stable(settings, 2, [first, second])
        time.sleep(1.0)
        assert stop_worker(second) == 0
        left_ms = now_ms()
        assert replay.thread.is_alive(), "the replay ended before the second worker left"
        replay.join()
        result = account(settings, replay.manifest)
    finally:
        stop_worker(first)
    workers = {s.worker for s in result.scores}
    result.report("rebalance (join, then leave)", first_after(result.scores, left_ms))
    assert result.sent == 5000 and result.dead_lettered == 0 and result.lost == 0
    assert result.scored == 5000
    assert len(workers) == 2, "the second worker took part before leaving"
    assert any(s.published_ms > joined_ms for s in result.scores)


@pytest.fixture
def own_redis(infra: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A redis-server of this test's own (free port, own folder), so it can be stopped."""
    settings = infra.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0",
                                        "state_dir": tmp_path / "state"})
    assert redis_server.up(settings).state == "running"
    yield settings
    redis_server.down(settings)


def own_names(redis: Settings, unique: Callable[[str], str]) -> Settings:
    """This test's topics, group and prefix around its own Redis; every beat enters the stats."""
    names = {f"topic_{t}": unique(t) for t in
             ("beats", "signal", "scores", "anomalies", "deadletter", "alerts", "stats_journal",
              "events")}
    settings = redis.model_copy(update={**names, "worker_group": unique("workers"),
                                        "redis_key_prefix": unique("ecg"),
                                        "stats_update_on_anomaly": True})
    ensure_topics(settings)
    return settings


def global_count(settings: Settings, expected: int, timeout: float = 30.0) -> int:
    """The global statistics count in Redis, polled until it equals ``expected`` (or timeout).

    Updates made while Redis was away reach it through the statistics journal, merged by the
    worker's journal agent once Redis answers: a few seconds after the restart.
    """
    import asyncio

    async def read() -> int:
        client = redis_client(settings)
        try:
            value = await client.hget(f"{settings.redis_key_prefix}:stats:global", "count")
        finally:
            await client.aclose()
        return int(value or 0)

    deadline = time.monotonic() + timeout
    while True:
        count = asyncio.run(read())
        if count == expected or time.monotonic() > deadline:
            return count
        time.sleep(0.5)


def test_redis_stopped_and_restarted_mid_replay(own_redis: Settings, unique: Callable[[str], str],
                                                tmp_path: Path) -> None:
    settings = own_names(own_redis, unique)
    worker = start_worker(settings, tmp_path / "worker.log")
    wait_group_stable(settings, 1, [worker])
    replay = Replay(settings, tmp_path / "manifest.jsonl", rate=1000.0, patients=16)
    try:
        time.sleep(1.5)
        redis_server.down(settings)
        stopped_ms = now_ms()
        time.sleep(2.0)
        assert redis_server.up(settings).state == "running"
        restarted_ms = now_ms()
        replay.join()
        result = account(settings, replay.manifest)
    finally:
        stop_worker(worker)
    degraded = [s for s in result.scores if s.degraded]
    recovery = first_after(result.scores, restarted_ms, lambda s: not s.degraded)
    result.report(f"Redis down {(restarted_ms - stopped_ms) / 1000:.1f} s", recovery)
    print(f"  {len(degraded)} beats scored degraded (static threshold) while Redis was away")
    assert result.sent == 5000 and result.dead_lettered == 0 and result.lost == 0
    assert degraded, "the worker noticed Redis was away"
    # degraded = judged without the shared statistics, so on the static threshold (a batch
    # judged on fetched statistics whose merge then failed is not degraded: its own state).
    assert all(s.threshold_source == "static" for s in degraded)
    assert all(stopped_ms - 1000 <= s.published_ms for s in degraded)
    assert not any(s.degraded for s in result.scores if s.published_ms > restarted_ms + 10_000)
    log = (tmp_path / "worker.log").read_text()
    assert "degraded: Redis unavailable" in log and "degraded mode over" in log, log[-3000:]
    # Statistics resume: after the restart Redis holds the global count of every beat scored,
    # including the updates journalled while it was away (AOF keeps what came before).
    assert global_count(settings, len(result.scores)) == len(result.scores)


def test_worker_killed_while_redis_is_away_loses_no_statistics(
        own_redis: Settings, unique: Callable[[str], str], tmp_path: Path) -> None:
    # The sequence of the outside review: Redis stopped 8 s, the worker SIGKILLed meanwhile,
    # Redis and a new worker started. The killed worker's degraded updates were only in its
    # memory before the statistics journal; now they are in Kafka and a new worker merges them.
    settings = own_names(own_redis, unique)
    first = start_worker(settings, tmp_path / "first.log")
    wait_group_stable(settings, 1, [first])
    replay = Replay(settings, tmp_path / "manifest.jsonl", rate=1000.0, patients=16)
    second = None
    try:
        time.sleep(1.0)
        redis_server.down(settings)
        time.sleep(4.0)
        first.send_signal(signal.SIGKILL)
        assert first.wait(timeout=30) == -signal.SIGKILL
        time.sleep(4.0)
        assert redis_server.up(settings).state == "running"
        second = start_worker(settings, tmp_path / "second.log")
        replay.join()
        result = account(settings, replay.manifest)
    finally:
        if second is not None:
            stop_worker(second)
    killed = [s for s in result.scores if s.worker.endswith(f":{first.pid}") and s.degraded]
    result.report("Redis down 8 s, worker SIGKILLed meanwhile", 0.0)
    print(f"  {len(killed)} beats scored degraded by the killed worker")
    assert result.lost == 0 and result.dead_lettered == 0
    assert killed, "the killed worker scored beats in degraded mode"
    # At least once without transactions: a batch cut short by the SIGKILL may have some of
    # its records in Kafka and not others, so the count may differ by at most that one batch.
    count = global_count(settings, len(result.scores))
    print(f"  global count {count}, score records {len(result.scores)}")
    assert abs(count - len(result.scores)) <= settings.batch_size


@pytest.fixture
def own_kafka(infra: Settings, tmp_path: Path) -> Iterator[Settings]:
    """A Kafka broker of this test's own (free ports, own storage), so it can be restarted."""
    kafka_port, controller_port = free_ports(2)
    settings = infra.model_copy(update={
        "kafka_bootstrap": f"localhost:{kafka_port}",
        "kafka_controller_port": controller_port,
        "state_dir": tmp_path / "state"})
    assert kafka.up(settings).state == "running"
    yield settings
    kafka.down(settings)


def test_broker_stopped_and_restarted_mid_replay(own_kafka: Settings, tmp_path: Path) -> None:
    settings = own_kafka.model_copy(update={"topic_partitions": 2})
    ensure_topics(settings)
    worker = start_worker(settings, tmp_path / "worker.log")
    wait_group_stable(settings, 1, [worker])
    replay = Replay(settings, tmp_path / "manifest.jsonl", rate=800.0, patients=16)
    try:
        time.sleep(2.0)
        stopped_ms = now_ms()
        kafka.down(settings)
        time.sleep(1.0)
        assert kafka.up(settings).state == "running"
        restarted_ms = now_ms()
        replay.join(timeout=300)
        result = account(settings, replay.manifest)
        alive = worker.poll() is None
    finally:
        stop_worker(worker)
    result.report(f"broker down {(restarted_ms - stopped_ms) / 1000:.1f} s",
                  first_after(result.scores, restarted_ms))
    assert alive, "the worker survived the broker restart"
    assert result.sent == 5000 and result.dead_lettered == 0 and result.lost == 0
