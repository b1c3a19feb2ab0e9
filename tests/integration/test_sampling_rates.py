"""Frames at high and unsupported sampling rates amid normal ones, through a real worker.

Before: the first frame at 1000 Hz built 2 GiB of beat shapes on the event loop (``/health``
silent for 27 s) and one at 10000 Hz crashed the worker in a loop (``MemoryError``). Now the
worker segments 1000 Hz (decimated to 200 Hz, prepared in a thread), refuses 1001 and 10000 Hz
(``frame_bad_fs``), keeps answering ``/health`` and stays the same process.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable

import numpy as np
import pytest
from kafka import KafkaProducer
from prometheus_client.parser import text_string_to_metric_families
from scipy import signal as sps

from stream.clients.kafka import kafka_python_config
from stream.observe.procstat import memory_mb
from stream.runs.outputs import read_outputs
from stream.segmentation.pool import SegmenterPool
from stream.settings import Settings
from stream.wire.schemas import FrameMessage, now_ms
from tests.ports import free_port

pytestmark = pytest.mark.integration
BEATS = 40


def _frame(patient: str, seq: int, start: int, fs: float, samples: np.ndarray) -> bytes:
    return json.dumps({"schema": 1, "patient": patient, "frame_seq": seq, "start_sample": start,
                       "fs": fs, "samples": np.round(samples, 5).tolist(),
                       "sent_ms": now_ms()}).encode()


def _stream(patient: str, fs: float) -> list[bytes]:
    """BEATS sharp peaks a second apart at ``fs``, in frames of about 0.9 s."""
    t = np.arange(140 * BEATS)
    signal = np.sin(2 * np.pi * t / 140) ** 15  # one sharp peak (and trough) per 140
    if fs != 140.0:
        signal = sps.resample(signal, round(signal.size * fs / 140))
    size = round(128 * fs / 140)
    return [_frame(patient, seq, start, fs, signal[start:start + size])
            for seq, start in enumerate(range(0, signal.size, size))]


class _HealthPoller(threading.Thread):
    """GET /health every 0.2 s; records (seconds to answer, HTTP status) or the failure."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.answers, self.failures = url, [], []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            began = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=30) as response:  # noqa: S310
                    json.loads(response.read())
                    self.answers.append((time.monotonic() - began, response.status))
            except OSError as exc:
                self.failures.append(repr(exc))


def test_high_and_unsupported_rates_neither_stall_nor_crash_the_worker(
        pipeline_settings: Callable[..., Settings], workers) -> None:
    port = free_port()
    settings = pipeline_settings(segmenter="templates", worker_web_port=port,
                                 threshold_mode="static")
    (proc,) = workers(settings, 1)
    rss_before = memory_mb(proc.pid)[0]
    good = {"p-140": _stream("p-140", 140.0), "p-1000": _stream("p-1000", 1000.0)}
    peaks = np.sin(2 * np.pi * np.arange(2000) / 1000) ** 15
    bad = [("p-1001", _frame("p-1001", seq, seq * 1000, 1001.0, peaks[:1000]))
           for seq in range(3)] + [("p-10000", _frame("p-10000", 0, 0, 10_000.0, peaks))]
    poller = _HealthPoller(f"http://127.0.0.1:{port}/health")
    poller.start()
    producer = KafkaProducer(**kafka_python_config(settings), linger_ms=5)
    since = now_ms() - 1000
    sent_bad = set()
    for index in range(min(len(stream) for stream in good.values())):
        for patient, stream in good.items():
            producer.send(settings.topic_signal, key=patient.encode(), value=stream[index])
        if 5 <= index < 5 + len(bad):  # the 1001 Hz frames, then the 10000 Hz one, mid-stream
            patient, value = bad[index - 5]
            meta = producer.send(settings.topic_signal, key=patient.encode(),
                                 value=value).get(timeout=30)
            sent_bad.add((meta.partition, meta.offset))
    producer.flush()
    producer.close()
    scores, dead = read_outputs(settings, since, 10**6, idle_timeout=8.0, timeout=180.0)
    poller.stop.set()
    poller.join(timeout=40)

    assert proc.poll() is None, "the worker is still the same live process"
    assert {(d.partition, d.offset) for d in dead} == sent_bad
    assert {d.reason for d in dead} == {"frame_bad_fs"}
    assert not poller.failures and len(poller.answers) >= 5, poller.failures
    assert max(seconds for seconds, _ in poller.answers) < 5.0, poller.answers
    assert {status for _, status in poller.answers} == {200}
    # The good frames were scored: the same beats as the same frames segmented offline.
    pool = SegmenterPool(settings)
    for patient, stream in good.items():
        offline = []
        for value in stream:
            offline += pool.push(FrameMessage.model_validate_json(value), 0)[0]
        offline += [b for b in pool.flush_idle(2**62) if b.patient == patient]
        found = sorted(s.onset_sample for s in scores if s.patient == patient)
        assert found == sorted(b.onset_sample for b in offline) and len(found) >= BEATS - 4
    assert not any(s.patient in {"p-1001", "p-10000"} for s in scores)
    assert memory_mb(proc.pid)[0] - rss_before < 600  # was +4,400 MiB with 1000 and 1001 Hz
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:  # noqa: S310
        text = response.read().decode()
    values = {(s.name, tuple(s.labels.values())): s.value
              for family in text_string_to_metric_families(text) for s in family.samples}
    assert values[("ecg_segmenter_events_total", ("bad_fs",))] == len(sent_bad)
    assert values[("ecg_segmenter_patients", ())] == 4
    assert 0 < values[("ecg_segmenter_rate_bytes", ())] <= 2 * 83 * 2**20
