"""Records that once put a partition in a crash loop, each amid good beats on one worker.

Before: each made the worker exit 75 without a dead letter, and the restarted worker exited
75 again on the same record. Now each becomes one dead letter, every good beat is scored
once, and the worker is the same process throughout.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable

import numpy as np
from kafka import KafkaProducer

from stream.clients.kafka import kafka_python_config
from stream.runs.outputs import read_outputs
from stream.settings import Settings
from stream.wire.schemas import now_ms


def _beat(patient: str, seq: int, samples: list[float], **changes: object) -> bytes:
    doc = {"schema": 1, "patient": patient, "seq": seq, "samples": samples,
           "sent_ms": now_ms(), **changes}
    return json.dumps(doc).encode()


def _poison() -> list[tuple[bytes | None, bytes, str]]:
    """(key, value, expected reason) of each record the outside review reported."""
    flat = [0.1] * 140
    pid = b"x" * 200
    long_id = (b"ECGB" + bytes([1, len(pid)]) + pid + struct.pack("<QQH", 0, now_ms(), 140)
               + np.zeros(140, np.float32).tobytes())
    return [
        (b"p-bad", _beat("p-bad", 0, [1e39] * 140), "non_finite"),
        (b"p-bad", _beat("p-bad", 1, [1e308, -1e308] * 70), "non_finite"),
        (b"p-bad", _beat("p-bad", 2, [1e39] * 100), "non_finite"),  # the resampling path
        (b"k" * 600_000, _beat("p-bad", 3, flat), "key_mismatch"),
        (b"\xff" * 250_000, _beat("p-bad", 4, flat), "key_mismatch"),
        (None, _beat("p-bad", 5, flat), "key_mismatch"),
        (b"p-bad", _beat("p-bad", 6, flat, schema=True), "unknown_schema"),
        (b"p-bad", _beat("p-bad", 7, flat, schema=1.0), "unknown_schema"),
        (b"p-bad", _beat("p-bad", 2**70, flat), "invalid_value"),
        (pid, long_id, "invalid_value"),
    ]


def test_poison_records_amid_good_beats(pipeline_settings: Callable[..., Settings],
                                        workers) -> None:
    settings = pipeline_settings()
    (proc,) = workers(settings, 1)
    pid = proc.pid
    rng = random.Random(3)
    good = [(f"p{i % 8}", i // 8, [round(rng.gauss(0, 1), 5) for _ in range(140)])
            for i in range(400)]
    since = now_ms() - 1000
    producer = KafkaProducer(**kafka_python_config(settings), linger_ms=20,
                             max_request_size=1 << 20)
    poison = _poison()
    order: list[tuple[str, object]] = [("good", g) for g in good]
    for i, item in enumerate(poison):  # each poison record inside a run of good beats
        order.insert(20 + i * 35, ("bad", item))
    sent_bad = {}
    pending = []
    for kind, item in order:
        if kind == "good":
            patient, seq, samples = item  # type: ignore[misc]
            pending.append(producer.send(settings.topic_beats, key=patient.encode(),
                                         value=_beat(patient, seq, samples)))
        else:
            key, value, reason = item  # type: ignore[misc]
            pending.append((producer.send(settings.topic_beats, key=key, value=value), reason))
    producer.flush()
    for entry in pending:
        if isinstance(entry, tuple):
            meta = entry[0].get(timeout=30)
            sent_bad[(meta.partition, meta.offset)] = entry[1]
    producer.close()

    scores, dead = read_outputs(settings, since, len(good) + len(poison), idle_timeout=20.0,
                                timeout=180.0)
    assert sorted((s.patient, s.seq) for s in scores) == sorted((p, s) for p, s, _ in good), \
        "every good beat scored exactly once"
    got = {(d.partition, d.offset): d.reason for d in dead}
    assert got == sent_bad, "one dead letter each, with the expected reason"
    assert max(len(d.model_dump_json()) for d in dead) < 16_384, "dead letters are capped"
    assert proc.poll() is None and proc.pid == pid, "the same worker process throughout"
