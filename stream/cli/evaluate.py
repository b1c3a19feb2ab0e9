"""``ecg-stream evaluate-stream``: read a run's outputs from Kafka, join them with its manifest."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from stream.settings import Settings
from stream.wire.identity import distinct_beats
from stream.wire.schemas import DeadLetter, ScoreRecord

log = logging.getLogger(__name__)


def _seek_to_time(consumer: Any, topic: str, since_ms: int) -> None:
    from kafka import TopicPartition

    partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
    consumer.assign(partitions)
    # End offsets first, resolved now: where no record is as new as since_ms yet, reading
    # starts at the end as it was *before* the time lookup. (A lazy seek_to_end resolves at
    # the first poll and skipped the records written in between.)
    ends = consumer.end_offsets(partitions) if partitions else {}
    offsets = consumer.offsets_for_times({tp: since_ms for tp in partitions})
    for tp in partitions:
        found = offsets.get(tp)
        consumer.seek(tp, ends[tp] if found is None else found.offset)


def read_outputs(settings: Settings, since_ms: int, expected: int, idle_timeout: float,
                 timeout: float) -> tuple[list[ScoreRecord], list[DeadLetter]]:
    """Score records and dead letters written at or after ``since_ms`` (Kafka timestamps).

    Stops when ``expected`` distinct beats were seen (duplicates, also a continuous-mode beat
    re-cut a few samples off by a new owner, count once: :mod:`stream.wire.identity`), or
    after ``idle_timeout`` seconds without a new record, or after ``timeout`` seconds in all.
    """
    from kafka import KafkaConsumer

    from stream.clients.kafka import kafka_python_config

    scores: list[ScoreRecord] = []
    dead: list[DeadLetter] = []
    consumers = {}
    for topic in (settings.topic_scores, settings.topic_deadletter):
        consumer = KafkaConsumer(**kafka_python_config(settings), enable_auto_commit=False)
        _seek_to_time(consumer, topic, since_ms)
        consumers[topic] = consumer
    begin = last = time.monotonic()
    try:
        while time.monotonic() - begin < timeout and time.monotonic() - last < idle_timeout:
            got = 0
            for topic, consumer in consumers.items():
                for records in consumer.poll(timeout_ms=200).values():
                    got += len(records)
                    _parse(topic == settings.topic_scores, records, scores, dead)
            if got:
                last = time.monotonic()
            if not got and distinct_beats(scores) + len(dead) >= expected:
                break
    finally:
        for consumer in consumers.values():
            consumer.close()
    return scores, dead


def _parse(is_score: bool, records: list[Any], scores: list[ScoreRecord],
           dead: list[DeadLetter]) -> None:
    for record in records:
        try:
            if is_score:
                scores.append(ScoreRecord.model_validate_json(record.value))
            else:
                dead.append(DeadLetter.model_validate_json(record.value))
        except ValidationError:
            log.warning("unreadable output record at offset %s", record.offset)


def evaluate_manifest(settings: Settings, manifest: Path, idle_timeout: float = 10.0,
                      timeout: float = 600.0, tolerance: int | None = None) -> dict[str, Any]:
    """Read the outputs of the replay described by ``manifest`` and evaluate them."""
    from producers.manifest import read_manifest
    from stream.runs.evaluation import DEFAULT_ONSET_TOLERANCE, evaluate_run

    header, records = read_manifest(manifest)
    since = int(header.get("started_ms", 0)) - 1000
    scores, dead = read_outputs(settings, since, len(records), idle_timeout, timeout)
    inputs = {settings.topic_beats, settings.topic_signal}
    ours = [d for d in dead if d.source_topic in inputs and d.received_ms >= since]
    mode = records[0].mode if records else "beat"
    scores = [s for s in scores if s.mode == mode and s.sent_ms >= since]
    return evaluate_run(records, scores, len(ours), tolerance or DEFAULT_ONSET_TOLERANCE)


@click.command("evaluate-stream")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=Path("artifacts/replay-manifest.jsonl"), show_default=True)
@click.option("--idle-timeout", type=float, default=10.0, show_default=True,
              help="Stop reading after this many seconds without a new output record.")
@click.option("--tolerance", type=int, default=None,
              help="Continuous mode: onset match tolerance in samples (default 14).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_obj
def evaluate_stream(settings: Settings, manifest: Path, idle_timeout: float,
                    tolerance: int | None, as_json: bool) -> None:
    """Join ecg.scores (and ecg.deadletter) with a replay manifest and report.

    Reports beats sent, scored, dead-lettered, missing and duplicated, segmentation recall and
    precision (continuous mode), precision/recall/F1 of the decisions, and latency.

    \b
    Example:
      ecg-stream replay --manifest run.jsonl && ecg-stream evaluate-stream --manifest run.jsonl
    """
    from stream.cli.base import emit
    from stream.clients.probes import require_kafka

    require_kafka(settings)
    emit(evaluate_manifest(settings, manifest, idle_timeout, tolerance=tolerance), as_json)
