"""Signal events end to end: record 100 with a pause and a lead off, through a real worker.

The worker publishes each condition on ``ecg.events`` (a pause has no beat record of its
own) and a signal lost once the frames stop; ``ecg-stream alerts`` makes an asystole alarm
of the pause and technical alarms of the rest, and no clinical alarm of the lead off.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from kafka import KafkaConsumer, KafkaProducer

from producers.gateway import SignalSender
from producers.records import read_recording
from stream.cli.alerts import alerts
from stream.clients.kafka import kafka_python_config
from stream.settings import Settings
from stream.wire.schemas import Alert, SignalEvent

pytestmark = pytest.mark.integration


def _signal(record: Path) -> tuple[np.ndarray, float]:
    """Record 100's first 3 minutes, MLII in mV: a 6 s pause at 60 s, the lead off at 120 s."""
    rec = read_recording(record.with_suffix(".hea"), "MLII")
    fs, x = rec.fs, rec.samples[: round(180 * rec.fs)].copy()
    rng = np.random.default_rng(0)
    at = round(60 * fs)
    base = float(np.median(x[at - round(fs):at]))
    x[at:at + round(6 * fs)] = base + rng.normal(0.0, 0.03, round(6 * fs))
    off = round(120 * fs)
    x[off:off + round(5 * fs)] = x[off]
    return x, fs


def _events(settings: Settings, expected: int, timeout_s: float = 60.0) -> list[SignalEvent]:
    consumer = KafkaConsumer(settings.topic_events, **kafka_python_config(settings),
                             auto_offset_reset="earliest", consumer_timeout_ms=2_000)
    found: list[SignalEvent] = []
    deadline = time.monotonic() + timeout_s
    while len(found) < expected and time.monotonic() < deadline:
        found += [SignalEvent.model_validate_json(m.value) for m in consumer]
    consumer.close()
    return found


def test_pause_and_lead_off_in_record_100_become_events_and_alarms(
        pipeline_settings: Callable[..., Settings], workers, mitdb_record: Path) -> None:
    settings = pipeline_settings(signal_lost_s=3.0)
    workers(settings, 1)
    x, fs = _signal(mitdb_record)
    producer = KafkaProducer(**kafka_python_config(settings), acks="all")
    sender = SignalSender(producer, settings.topic_signal, "rec100", fs)
    for lo in range(0, x.size, round(fs)):  # 1 s of signal every 25 ms: 40x real time
        sender.send(x[lo:lo + round(fs)])
        time.sleep(0.025)
    sender.close()
    producer.flush(timeout=30)
    producer.close()
    events = _events(settings, expected=5)
    got = [(e.kind, e.phase, e.category) for e in events]
    assert got == [("pause", "start", "clinical"), ("pause", "end", "clinical"),
                   ("lead_off", "start", "technical"), ("lead_off", "end", "technical"),
                   ("signal_lost", "start", "technical")], got
    pause = events[0]
    assert 59.0 <= (pause.since_sample or 0) / fs <= 60.0 and pause.duration_ms >= 5000
    assert (events[2].since_sample or 0) == round(120 * fs)
    assert all(e.worker and e.published_ms >= e.sent_ms for e in events)
    result = CliRunner().invoke(alerts, ["--json", "--from-beginning", "--idle-timeout", "4",
                                         "--group", settings.worker_group + "-alerts"],
                                obj=settings, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = [Alert.model_validate_json(line) for line in result.stdout.splitlines()]
    kinds = sorted((a.kind, a.category) for a in printed if a.kind != "anomaly_run")
    assert kinds == [("asystole", "clinical"), ("lead_off", "technical"),
                     ("signal_lost", "technical")], kinds
    summary = json.loads(result.stderr.split("alerts summary: ", 1)[1])
    assert summary["monitor_events"] == 5 and summary["malformed"] == 0
