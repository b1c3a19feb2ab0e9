"""The reference consumer's loop: aiokafka in, one model call per batch, aiokafka out.

No Faust and no Redis: a consumer group on the beats topic, ``getmany`` of up to
``ECG_BATCH_SIZE`` records (waiting at most ``ECG_BATCH_WITHIN_MS``), :func:`score_batch`
inline on one torch thread, every output sent and delivered, then the offsets committed
(at-least-once, as the worker).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Any

from stream.clients.kafka import aiokafka_config
from stream.reference.batch import Outputs, score_batch
from stream.settings import Settings
from stream.wire.decode import RawInput
from stream.wire.schemas import now_ms

log = logging.getLogger(__name__)


async def _deliver(producer: Any, settings: Settings, out: Outputs) -> None:
    futures = [await producer.send(settings.topic_scores, value, key=key)
               for key, value in out.scores]
    futures += [await producer.send(settings.topic_anomalies, value, key=key)
                for key, value in out.anomalies]
    for letter in out.dead:
        key = letter.key.encode() if letter.key else None
        futures.append(await producer.send(settings.topic_deadletter,
                                           letter.model_dump_json(by_alias=True).encode(),
                                           key=key))
    await asyncio.gather(*futures)


async def consume(settings: Settings, worker: str, stop: asyncio.Event) -> int:
    """Score ``settings.topic_beats`` until ``stop`` is set; the number of records taken."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # local: only this process

    from models.detector import load_detector  # local: torch loads only when used

    detector = load_detector(settings.checkpoint, runtime=settings.model_runtime,
                             num_threads=settings.torch_threads,
                             expected_sha256=settings.checkpoint_sha256)
    detector.warm_up(settings.batch_size)
    config = aiokafka_config(settings)
    consumer = AIOKafkaConsumer(settings.topic_beats, group_id=settings.worker_group,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **config)
    producer = AIOKafkaProducer(linger_ms=5, **config)
    await producer.start()
    await consumer.start()
    print(f"reference consumer {worker} ready: group {settings.worker_group}, "  # noqa: T201
          f"model {detector.version}", flush=True)
    taken = 0
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=settings.batch_within_ms,
                                             max_records=settings.batch_size)
            received = now_ms()
            records = [RawInput(tp.topic, tp.partition, m.offset, m.key, m.value, received)
                       for tp, messages in batches.items() for m in messages]
            if not records:
                continue
            out = score_batch(records, detector.score, detector.threshold, detector.version,
                              worker, settings.max_payload_bytes)
            await _deliver(producer, settings, out)
            await consumer.commit()
            taken += len(records)
    finally:
        await consumer.stop()
        await producer.stop()
    return taken


def main() -> None:
    """Run until SIGTERM or SIGINT (the settings come from the environment)."""
    import os
    import socket

    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    worker = f"{socket.gethostname()}:{os.getpid()}"

    async def run() -> int:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        return await consume(settings, worker, stop)

    taken = asyncio.run(run())
    log.warning("reference consumer %s stopped after %d records", worker, taken)
