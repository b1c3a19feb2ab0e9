"""Read a run's outputs (scores, dead letters) back from Kafka and evaluate them."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from pydantic import ValidationError

from producers.manifest import read_annotations, read_manifest
from stream.clients.kafka import kafka_python_config
from stream.runs.ec57 import BEAT_SYMBOLS
from stream.runs.evaluation import DEFAULT_ONSET_TOLERANCE, evaluate_run
from stream.runs.record_evaluation import evaluate_record_run
from stream.settings import Settings
from stream.wire.identity import distinct_beats
from stream.wire.schemas import DeadLetter, ScoreRecord

log = logging.getLogger(__name__)


def _seek_to_time(consumer: Any, topic: str, since_ms: int) -> None:
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
    header, records = read_manifest(manifest)
    since = int(header.get("started_ms", 0)) - 1000
    if "records" in header:
        return _evaluate_records(settings, manifest, since, idle_timeout, timeout)
    scores, dead = read_outputs(settings, since, len(records), idle_timeout, timeout)
    inputs = {settings.topic_beats, settings.topic_signal}
    ours = [d for d in dead if d.source_topic in inputs and d.received_ms >= since]
    mode = records[0].mode if records else "beat"
    scores = [s for s in scores if s.mode == mode and s.sent_ms >= since]
    return evaluate_run(records, scores, len(ours), tolerance or DEFAULT_ONSET_TOLERANCE)


def _evaluate_records(settings: Settings, manifest: Path, since: int, idle_timeout: float,
                      timeout: float) -> dict[str, Any]:
    """A record replay: EC57 against the manifest's annotations (``record_evaluation``)."""
    annotations, extents = read_annotations(manifest)
    expected = sum(1 for a in annotations if a.symbol in BEAT_SYMBOLS
                   and a.patient in extents and a.sample < extents[a.patient].samples)
    scores, dead = read_outputs(settings, since, expected, idle_timeout, timeout)
    ours = [d for d in dead if d.source_topic == settings.topic_signal and d.received_ms >= since]
    scores = [s for s in scores if s.mode == "continuous" and s.sent_ms >= since]
    return evaluate_record_run(annotations, extents, scores, len(ours))
