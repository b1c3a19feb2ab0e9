"""``ecg-stream alerts`` through the real broker: monitor and technical alarms, and its state
surviving a restart (re-read from the topics, not kept in memory only)."""

from __future__ import annotations

import json
from collections.abc import Callable

from click.testing import CliRunner
from kafka import KafkaProducer

from stream.cli.alerts import alerts
from stream.clients.kafka import kafka_python_config
from stream.clients.probes import ensure_topic
from stream.settings import Settings
from stream.wire.schemas import Alert, ScoreRecord, SignalEvent

T0 = 1_795_629_600_000  # 2026-11-25T18:00:00Z
FS = 360.0


def _settings(infra: Settings, unique: Callable[[str], str]) -> Settings:
    settings = infra.model_copy(update={
        "topic_anomalies": unique("anomalies"), "topic_scores": unique("scores"),
        "topic_events": unique("events"), "topic_alerts": unique("alerts"),
        "alert_m": 3, "alert_n": 5, "alert_cooldown_s": 30.0})
    for topic in (settings.topic_anomalies, settings.topic_scores, settings.topic_events):
        ensure_topic(settings, topic, partitions=2)
    return settings


def _beat(patient: str, k: int, rate: float, t_s: float, anomalous: bool = False,
          mode: str = "continuous") -> ScoreRecord:
    ms = T0 + round(1000 * t_s)
    return ScoreRecord(patient=patient, mode=mode, seq=k,  # type: ignore[arg-type]
                       onset_sample=round(k * 60 * FS / rate) if mode == "continuous" else None,
                       score=50.0 if anomalous else 1.0, threshold=40.0,
                       threshold_source="static", anomalous=anomalous,
                       anomaly_reason="model" if anomalous else None, model_version="t",
                       rr_before_ms=60_000 / rate, heart_rate_bpm=rate, sent_ms=ms,
                       received_ms=ms, published_ms=ms)


def _event(patient: str, kind: str, phase: str, t_s: float, since: int = 1000) -> SignalEvent:
    ms = T0 + round(1000 * t_s)
    return SignalEvent.model_validate({
        "schema": 1, "patient": patient, "kind": kind,
        "category": "clinical" if kind == "pause" else "technical", "phase": phase,
        "since_sample": since, "at_sample": since + 1800, "duration_ms": 5000.0, "fs": FS,
        "sent_ms": ms, "published_ms": ms})


def _send(settings: Settings, scores: list[ScoreRecord], events: list[SignalEvent]) -> None:
    producer = KafkaProducer(**kafka_python_config(settings), acks="all")
    for r in scores:
        value = r.model_dump_json(by_alias=True).encode()
        producer.send(settings.topic_scores, value, key=r.patient.encode())
        if r.anomalous:
            producer.send(settings.topic_anomalies, value, key=r.patient.encode())
    for e in events:
        producer.send(settings.topic_events, e.model_dump_json(by_alias=True).encode(),
                      key=e.patient.encode())
    producer.flush(timeout=30)
    producer.close()


def _run(settings: Settings, *args: str) -> tuple[list[Alert], dict[str, int]]:
    result = CliRunner().invoke(alerts, ["--json", "--idle-timeout", "4", *args], obj=settings,
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    printed = [Alert.model_validate_json(line) for line in result.stdout.splitlines()]
    return printed, json.loads(result.stderr.split("alerts summary: ", 1)[1])


def test_monitor_and_technical_alarms_from_scores_and_events(
        infra: Settings, unique: Callable[[str], str]) -> None:
    settings = _settings(infra, unique)
    tachy = [_beat("fast", k, 150.0, k * 0.4) for k in range(20)]  # alarm at the 17th beat
    normal = [_beat("calm", k, 72.0, k * 0.8) for k in range(40)]
    beats = [_beat("beat-mode", k, 150.0, k * 0.4, mode="beat") for k in range(20)]
    events = [_event("calm", "pause", "start", 10.0), _event("calm", "pause", "end", 12.0),
              _event("calm", "lead_off", "start", 20.0),
              _event("calm", "lead_off", "start", 20.5),  # repeated (a new owner): ignored
              _event("calm", "lead_off", "end", 24.0),
              _event("gone", "signal_lost", "start", 30.0)]
    _send(settings, tachy + normal + beats, events)
    printed, summary = _run(settings, "--from-beginning", "--group", unique("g"))
    got = sorted((a.patient, a.kind, a.category) for a in printed)
    assert got == [("calm", "asystole", "clinical"), ("calm", "lead_off", "technical"),
                   ("fast", "tachycardia", "clinical"), ("gone", "signal_lost", "technical")]
    [fast] = [a for a in printed if a.patient == "fast"]
    assert fast.window == 17 and fast.heart_rate_bpm == 150.0
    assert fast.raised_ms == T0 + round(1000 * 16 * 0.4)
    assert summary["monitor_events"] == 6 and summary["monitor_repeated_events"] == 1
    assert summary["monitor_alarms"] == 4 and summary["malformed"] == 0


def test_a_restarted_consumer_keeps_its_cooldowns_and_runs(
        infra: Settings, unique: Callable[[str], str]) -> None:
    """Across a restart: no second alarm in a cool-down, a run under way completed."""
    settings, group = _settings(infra, unique), unique("g")
    first = [_beat("cool", k, 80.0, k * 0.75, True, "beat") for k in range(3)]  # an alert
    first += [_beat("run", k, 80.0, k * 0.75, k < 2, "beat") for k in range(3)]  # 2 of 3
    first += [_beat("tachy", k, 150.0, k * 0.4) for k in range(10)]  # 10 of 17
    _send(settings, first, [_event("lead", "lead_off", "start", 1.0)])
    printed, summary = _run(settings, "--from-beginning", "--group", group)
    assert sorted((a.patient, a.kind) for a in printed) == [("cool", "anomaly_run"),
                                                            ("lead", "lead_off")]
    second = [_beat("cool", k, 80.0, k * 0.75, True, "beat") for k in range(3, 6)]
    second += [_beat("run", 3, 80.0, 2.25, True, "beat")]
    second += [_beat("tachy", k, 150.0, k * 0.4) for k in range(10, 17)]
    _send(settings, second, [_event("lead", "lead_off", "start", 6.0)])  # still off
    printed, summary = _run(settings, "--group", group)  # the group's offsets: a restart
    assert sorted((a.patient, a.kind) for a in printed) == [("run", "anomaly_run"),
                                                            ("tachy", "tachycardia")]
    run = next(a for a in printed if a.patient == "run")
    assert run.anomalies == 3  # the two anomalies read before the restart count
    assert summary["recovered"] == len(first) + 5 + 1  # the anomalies, on their topic too
    # Without the re-read state: a second cool alert, no run alert, no tachycardia, a second
    # lead-off alarm. With it, cool's three anomalies are rule hits within its cool-down.
    assert summary["suppressed"] == 3 and summary["monitor_repeated_events"] == 1
    assert summary["messages"] == len(second) + 4 + 1
