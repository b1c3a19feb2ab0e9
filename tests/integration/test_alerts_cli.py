"""``ecg-stream alerts`` end to end: a scripted anomaly sequence through the real broker."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from click.testing import CliRunner
from kafka import KafkaConsumer, KafkaProducer

from stream.cli.alerts import alerts
from stream.clients.kafka import kafka_python_config
from stream.clients.probes import ensure_topic
from stream.settings import Settings
from stream.wire.schemas import Alert, ScoreRecord
from tests.ports import free_port

T0 = 1_795_629_600_000  # 2026-11-25T18:00:00Z

# (patient, seq, seconds after T0); m=3, n=5, cool-down 10 s.
SCRIPT = [
    ("p-7", 1, 0), ("p-7", 3, 1), ("p-7", 3, 1),  # duplicate
    ("p-9", 2, 1),
    ("p-7", 4, 2),                                 # alert: 1, 3, 4 within (-1, 4]
    ("p-7", 5, 3),                                 # suppressed (cool-down until 12 s)
    ("p-9", 3, 3), ("p-9", 5, 4),                  # alert: 2, 3, 5
    ("p-7", 20, 20), ("p-7", 21, 21), ("p-7", 24, 22),  # alert after the cool-down
]


def _record(patient: str, seq: int, t_s: int) -> bytes:
    ms = T0 + t_s * 1000
    rec = ScoreRecord(patient=patient, mode="beat", seq=seq, score=0.5 + seq / 100,
                      threshold=0.4, threshold_source="static", anomalous=True,
                      model_version="test", sent_ms=ms, received_ms=ms, published_ms=ms)
    return rec.model_dump_json(by_alias=True).encode()


def _produce(settings: Settings, partitions: int) -> None:
    ensure_topic(settings, settings.topic_anomalies, partitions=partitions)
    producer = KafkaProducer(**kafka_python_config(settings), acks="all")
    for patient, seq, t_s in SCRIPT[:4]:
        producer.send(settings.topic_anomalies, _record(patient, seq, t_s), key=patient.encode())
    producer.send(settings.topic_anomalies, b"{not json", key=b"p-7")  # must not crash
    for patient, seq, t_s in SCRIPT[4:]:
        producer.send(settings.topic_anomalies, _record(patient, seq, t_s), key=patient.encode())
    producer.flush(timeout=30)
    producer.close()


def _published(settings: Settings, expected: int) -> list[Alert]:
    consumer = KafkaConsumer(settings.topic_alerts, **kafka_python_config(settings),
                             auto_offset_reset="earliest", consumer_timeout_ms=15_000)
    found: list[Alert] = []
    deadline = time.monotonic() + 30
    for message in consumer:
        assert message.key.decode() == json.loads(message.value)["patient"]
        found.append(Alert.model_validate_json(message.value))
        if len(found) >= expected or time.monotonic() > deadline:
            break
    consumer.close()
    return found


def test_alerts_json_publish(infra: Settings, unique: Callable[[str], str]) -> None:
    settings = infra.model_copy(update={
        "topic_anomalies": unique("anomalies"), "topic_alerts": unique("alerts"),
        "topic_scores": unique("scores"), "topic_events": unique("events"),
        "alert_m": 3, "alert_n": 5, "alert_cooldown_s": 10.0,
    })
    _produce(settings, partitions=2)
    result = CliRunner().invoke(
        alerts, ["--json", "--publish", "--from-beginning", "--group", unique("g"),
                 "--idle-timeout", "3"],
        obj=settings, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    printed = [Alert.model_validate_json(line) for line in result.stdout.splitlines()]
    got = sorted((a.patient, a.first_seq, a.last_seq, a.anomalies) for a in printed)
    assert got == [("p-7", 1, 4, 3), ("p-7", 20, 24, 3), ("p-9", 2, 5, 3)]
    assert "malformed message" in result.stderr
    summary = json.loads(result.stderr.split("alerts summary: ", 1)[1])
    assert summary["messages"] == len(SCRIPT) + 1 and summary["malformed"] == 1
    assert (summary["alerts"], summary["suppressed"], summary["duplicates"]) == (3, 1, 1)
    published = _published(settings, expected=3)
    assert sorted(published, key=lambda a: (a.patient, a.first_seq)) == sorted(
        printed, key=lambda a: (a.patient, a.first_seq))


def test_alerts_human_lines_and_max_messages(infra: Settings,
                                             unique: Callable[[str], str]) -> None:
    settings = infra.model_copy(update={
        "topic_anomalies": unique("anomalies"), "topic_alerts": unique("alerts"),
        "topic_scores": unique("scores"), "topic_events": unique("events"),
        "alert_m": 3, "alert_n": 5, "alert_cooldown_s": 10.0,
    })
    _produce(settings, partitions=1)  # one partition: the first 6 records are fixed
    result = CliRunner().invoke(
        alerts, ["--from-beginning", "--group", unique("g"), "--max-messages", "6",
                 "--idle-timeout", "20"],
        obj=settings, catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stderr.split("alerts summary: ", 1)[1])
    assert (summary["messages"], summary["malformed"], summary["duplicates"]) == (6, 1, 1)
    assert result.stdout.splitlines() == [
        "2026-11-25T18:00:02Z ALERT patient p-7: 3 of last 5 beats anomalous "
        "(seq 1-4, max score 0.54)"
    ]


def test_alerts_metrics_endpoint_matches_the_summary(infra: Settings,
                                                     unique: Callable[[str], str]) -> None:
    import threading
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    settings = infra.model_copy(update={
        "topic_anomalies": unique("anomalies"), "topic_alerts": unique("alerts"),
        "topic_scores": unique("scores"), "topic_events": unique("events"),
        "alert_m": 3, "alert_n": 5, "alert_cooldown_s": 10.0,
    })
    _produce(settings, partitions=2)
    port = free_port()
    outcome: dict[str, object] = {}

    def run() -> None:
        outcome["result"] = CliRunner().invoke(
            alerts, ["--from-beginning", "--group", unique("g"), "--idle-timeout", "6",
                     "--metrics-port", str(port)], obj=settings, catch_exceptions=False)

    thread = threading.Thread(target=run)
    thread.start()
    values: dict[str, float] = {}
    deadline = time.monotonic() + 30
    while values.get("ecg_alert_input_records_total") != len(SCRIPT) + 1:
        assert time.monotonic() < deadline, values
        time.sleep(0.3)
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as resp:
                text = resp.read().decode()
        except OSError:
            continue
        values = {s.name: s.value for f in text_string_to_metric_families(text)
                  for s in f.samples}
    thread.join()
    result = outcome["result"]
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    summary = json.loads(result.stderr.split("alerts summary: ", 1)[1])  # type: ignore[attr-defined]
    assert values["ecg_alerts_total"] == summary["alerts"] == 3
    assert values["ecg_alerts_suppressed_total"] == summary["suppressed"] == 1
    assert values["ecg_alert_duplicate_events_total"] == summary["duplicates"] == 1
    assert values["ecg_alert_malformed_records_total"] == summary["malformed"] == 1
