"""1,000 malformed messages mixed with good beats (JSON and the float32 binary variant): every
bad one dead-lettered, every good one scored, and the worker never restarts."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
from kafka import KafkaProducer

from stream.clients.kafka import kafka_python_config
from stream.runs.outputs import read_outputs
from stream.settings import Settings
from stream.wire.binary import encode_beat, encode_frame
from stream.wire.schemas import now_ms

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
        (encode_beat("p-bad", 0, np.full(140, 0.1), now_ms())[:-3], "malformed_binary"),
        (encode_beat("p-bad", 0, np.full(140, np.nan), now_ms()), "non_finite"),
        (encode_beat("p-bad", 0, np.full(4, 0.1), now_ms()), "wrong_length"),
        (encode_frame("p-bad", 0, 0, 140.0, np.full(140, 0.1), now_ms()), "unknown_schema"),
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
        if kind == "good":  # every other good beat in the binary variant
            value = (encode_beat(item["patient"], item["seq"], np.float32(item["samples"]),
                                 item["sent_ms"]) if item["seq"] % 2 else json.dumps(item).encode())
            producer.send(settings.topic_beats, key=item["patient"].encode(), value=value)
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


def test_absurd_frames_are_dead_lettered_and_the_stream_goes_on(
        pipeline_settings: Callable[..., Settings], workers) -> None:
    """Frames with absurd sampling rates or far-future sequence numbers, amid a good signal."""
    settings = pipeline_settings()
    (proc,) = workers(settings, 1)
    t = np.arange(140 * 40)
    signal = np.sin(2 * np.pi * t / 140) ** 15  # one sharp peak per 140 samples
    producer = KafkaProducer(**kafka_python_config(settings), linger_ms=5)

    def frame(seq: int, start: int, fs: float, samples: np.ndarray) -> bytes:
        return json.dumps({"schema": 1, "patient": "p-frames", "frame_seq": seq,
                           "start_sample": start, "fs": fs, "samples": samples.tolist(),
                           "sent_ms": now_ms()}).encode()

    since = now_ms() - 1000
    sent_bad: dict[tuple[int, int], str] = {}
    for seq, start in enumerate(range(0, signal.size, 128)):
        chunk = signal[start:start + 128]
        producer.send(settings.topic_signal, key=b"p-frames", value=frame(seq, start, 140.0, chunk))
        if seq % 5 == 2:  # the same frame claimed at an absurd rate, and far in the future
            for value, reason in ((frame(seq + 1, start + 128, 1e9, chunk), "frame_bad_fs"),
                                  (frame(seq + 10**9, 10**12, 140.0, chunk), "frame_far_future")):
                meta = producer.send(settings.topic_signal, key=b"p-frames",
                                     value=value).get(timeout=30)
                sent_bad[(meta.partition, meta.offset)] = reason
    producer.flush()
    producer.close()

    # Expect more than can come: read until 8 s pass with nothing new (the idle flush
    # closes the last beats 2 s after the last frame).
    scores, dead = read_outputs(settings, since, 10**6, idle_timeout=8.0, timeout=120.0)
    got = {(d.partition, d.offset): d.reason for d in dead if d.reason in
           ("frame_bad_fs", "frame_far_future")}
    everything = sorted((d.partition, d.offset, d.reason) for d in dead)
    assert got == sent_bad, f"every absurd frame dead-lettered once: {everything}"
    assert len(sent_bad) >= 14
    # The bad frames disturbed nothing: the worker cut the same beats as the good frames
    # alone give offline.
    from stream.segmentation.pool import SegmenterPool
    from stream.wire.schemas import FrameMessage

    pool, offline = SegmenterPool(settings), []
    for seq, start in enumerate(range(0, signal.size, 128)):
        message = FrameMessage.model_validate_json(frame(seq, start, 140.0,
                                                         signal[start:start + 128]))
        offline += pool.push(message, 0)[0]
    offline += pool.flush_idle(2**62)
    assert sorted(s.onset_sample for s in scores) == sorted(b.onset_sample for b in offline)
    assert len(scores) >= 30
    assert proc.poll() is None, "the worker is still the same live process"
