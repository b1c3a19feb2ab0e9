"""1,000 malformed messages mixed with good beats: every bad one dead-lettered, every good one
scored, and the worker never restarts."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaProducer

from stream.evaluate_cli import read_outputs
from stream.kafka_config import kafka_python_config
from stream.schemas import now_ms
from stream.settings import Settings

GOOD = {"schema": 1, "patient": "", "seq": 0, "samples": [], "sent_ms": 0}


def _bad_values(rng: random.Random) -> list[tuple[bytes, str]]:
    beat = {**GOOD, "patient": "p-bad", "samples": [0.1] * 140, "sent_ms": now_ms()}
    kinds = [
        (b"{not json", "invalid_json"), (b"", "empty_payload"), (b"\xff\xfe\xfd", "not_utf8"),
        (json.dumps([1, 2]).encode(), "not_an_object"),
        (json.dumps({**beat, "schema": 7}).encode(), "unknown_schema"),
        (json.dumps({k: v for k, v in beat.items() if k != "seq"}).encode(), "missing_field"),
        (json.dumps({**beat, "samples": "x"}).encode(), "wrong_type"),
        (json.dumps({**beat, "samples": [0.1] * 4}).encode(), "wrong_length"),
        (json.dumps({**beat, "samples": [float("nan")] * 140}).encode(), "non_finite"),
        (json.dumps({**beat, "samples": [float("inf")] * 140}).encode(), "non_finite"),
        (b"{" + b" " * 70_000 + b"}", "payload_too_large"),
    ]
    return [kinds[i % len(kinds)] for i in range(1000)]


def test_malformed_messages_are_dead_lettered(pipeline_settings: Callable[..., Settings],
                                              workers, tmp_path: Path) -> None:
    settings = pipeline_settings()
    (proc,) = workers(settings, 1)
    rng = random.Random(7)
    bad = _bad_values(rng)
    good = [{**GOOD, "patient": f"p{i % 10}", "seq": i // 10,
             "samples": [round(rng.gauss(0, 1), 5) for _ in range(140)], "sent_ms": now_ms()}
            for i in range(1000)]
    since = now_ms() - 1000
    producer = KafkaProducer(**kafka_python_config(settings), linger_ms=5,
                             max_request_size=1 << 20)
    sent_bad: dict[int, str] = {}
    order = [("good", g) for g in good] + [("bad", b) for b in bad]
    rng.shuffle(order)
    for kind, item in order:
        if kind == "good":
            producer.send(settings.topic_beats, key=item["patient"].encode(),
                          value=json.dumps(item).encode())
        else:
            meta = producer.send(settings.topic_beats, key=b"p-bad", value=item[0]).get(timeout=30)
            sent_bad[(meta.partition, meta.offset)] = item[1]
    producer.flush()
    producer.close()

    scores, dead = read_outputs(settings, since, 2000, idle_timeout=20.0, timeout=300.0)
    assert {(s.patient, s.seq) for s in scores} == {(g["patient"], g["seq"]) for g in good}
    assert len(scores) == 1000
    got = {(d.partition, d.offset): d.reason for d in dead}
    assert got == sent_bad, "every bad record dead-lettered once with the expected reason"
    assert all(d.source_topic == settings.topic_beats for d in dead)
    assert proc.poll() is None, "the worker is still the same live process"
