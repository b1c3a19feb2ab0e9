"""A real worker's ``/metrics`` (Prometheus) and ``/health`` endpoints, scraped over HTTP."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from producers.runner import run_replay
from stream.clients.kafka import kafka_python_config
from stream.runs.outputs import read_outputs
from stream.settings import Settings
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("require_data")]



def _get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local test URL
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers["Content-Type"]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_worker_serves_metrics_and_health(pipeline_settings: Callable[..., Settings], workers,
                                          tmp_path: Path) -> None:
    port = free_port()
    settings = pipeline_settings(worker_web_port=port)
    workers(settings, 1)
    base = f"http://127.0.0.1:{port}"

    status, body, _ = _get(f"{base}/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok", health
    assert health["kafka"] is True and health["redis"] is True

    # The 2226 beats of the seed test split and 3 bad records.
    run_replay(settings, "seed-test", tmp_path / "m.jsonl", mode="beat", patients=4, rate=0.0)
    from kafka import KafkaProducer

    producer = KafkaProducer(**kafka_python_config(settings))
    for value in (b"{not json", b"", b'{"schema": "ecg.beat.v9"}'):
        producer.send(settings.topic_beats, key=b"p-bad", value=value)
    producer.flush()
    producer.close()
    scores, dead = read_outputs(settings, 0, 2226, idle_timeout=10.0, timeout=120.0)
    assert len({(s.patient, s.seq) for s in scores}) == 2226

    deadline = time.monotonic() + 30
    while True:
        status, body, content_type = _get(f"{base}/metrics")
        values = _samples(body.decode())
        if values.get(("ecg_dead_letters_total", (("reason", "unknown_schema"),))) or \
                time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert status == 200 and content_type.startswith("text/plain")
    assert values[("ecg_records_in_total", (("mode", "beat"),))] == 2229
    assert values[("ecg_beats_scored_total", (("mode", "beat"),))] == 2226
    anomalies = sum(s.anomalous for s in scores)
    assert values.get(("ecg_anomalies_total", (("mode", "beat"),)), 0) == anomalies
    assert values[("ecg_dead_letters_total", (("reason", "invalid_json"),))] == 1
    assert values[("ecg_dead_letters_total", (("reason", "empty_payload"),))] == 1
    assert values[("ecg_dead_letters_total", (("reason", "unknown_schema"),))] == 1
    assert values[("ecg_batch_size_beats_count", ())] >= 1
    assert values[("ecg_batch_size_beats_sum", ())] == 2226
    assert values[("ecg_inference_seconds_count", ())] == values[("ecg_batch_size_beats_count", ())]
    assert values[("ecg_end_to_end_latency_seconds_count", (("mode", "beat"),))] == 2226
    assert values[("ecg_redis_degraded", ())] == 0
    info = [labels for (name, labels) in values if name == "ecg_model_info"]
    assert info and dict(info[0])["version"].startswith("lstm-ae-")
    lags = {labels: v for (name, labels), v in values.items() if name == "ecg_consumer_lag_records"}
    assert lags and all(v >= 0 for v in lags.values())
    assert {dict(k)["topic"] for k in lags} <= {settings.topic_beats, settings.topic_signal}
    assert len(dead) == 3


def test_health_reports_down_without_broker(pipeline_settings: Callable[..., Settings]) -> None:
    import asyncio

    from stream.worker.health import health_report

    settings = pipeline_settings().model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    report = asyncio.run(health_report(settings, None))
    assert report["status"] == "down" and report["kafka"] is False
