"""``ecg-stream alerts`` through the real broker: a producer that restarts its numbering."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from kafka import KafkaProducer

from stream.cli.alerts import alerts
from stream.clients.kafka import kafka_python_config
from stream.clients.probes import ensure_topic
from stream.settings import Settings
from stream.wire.schemas import Alert, ScoreRecord

T0 = 1_795_629_600_000  # 2026-11-25T18:00:00Z


def _replay(producer: KafkaProducer, topic: str, patients: list[str], start_s: float) -> None:
    """The anomalies of one beat replay: seq 0-29 at 10 beats/s, every beat but seq % 4 == 3."""
    for seq in range(30):
        for patient in patients:
            if seq % 4 == 3:
                continue
            ms = T0 + round((start_s + seq / 10) * 1000)
            rec = ScoreRecord(patient=patient, mode="beat", seq=seq, score=50.0, threshold=40.0,
                              threshold_source="static", anomalous=True, model_version="t",
                              sent_ms=ms, received_ms=ms, published_ms=ms + 5)
            producer.send(topic, rec.model_dump_json(by_alias=True).encode(),
                          key=patient.encode())


def test_two_replays_with_the_same_patient_ids_35_s_apart_both_alert(
        infra: Settings, unique: Callable[[str], str], caplog: pytest.LogCaptureFixture) -> None:
    settings = infra.model_copy(update={"topic_anomalies": unique("anomalies"),
                                        "topic_scores": unique("scores"),
                                        "topic_events": unique("events"),
                                        "alert_m": 3, "alert_n": 5, "alert_cooldown_s": 30.0})
    ensure_topic(settings, settings.topic_anomalies, partitions=2)
    producer = KafkaProducer(**kafka_python_config(settings), acks="all")
    patients = [f"patient-{i:05d}" for i in range(4)]
    _replay(producer, settings.topic_anomalies, patients, 0.0)
    _replay(producer, settings.topic_anomalies, patients, 35.0)  # the ids again, seq from 0
    producer.flush(timeout=30)
    producer.close()
    result = CliRunner().invoke(alerts, ["--json", "--from-beginning", "--group", unique("g"),
                                         "--idle-timeout", "3"],
                                obj=settings, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = [Alert.model_validate_json(line) for line in result.stdout.splitlines()]
    for patient in patients:  # one alert per replay (the cool-down spans the rest of each)
        raised = sorted(a.raised_ms - T0 for a in printed if a.patient == patient)
        assert len(raised) == 2 and raised[0] < 35_000 <= raised[1], raised
    summary = json.loads(result.stderr.split("alerts summary: ", 1)[1])
    assert (summary["restarts"], summary["stale"], summary["expired"]) == (4, 0, 0)
    # Logged as a warning (on stderr under ``ecg-stream``, which configures logging).
    assert caplog.text.count("beat numbering restarted (seq 0 after 29") == 4
