from prometheus_client.parser import text_string_to_metric_families

from stream.observe.metrics import WorkerMetrics
from stream.wire.schemas import DeadLetter, ScoreRecord


def _score(anomalous: bool, sent: int = 1_000, published: int = 1_250) -> ScoreRecord:
    return ScoreRecord(patient="p", mode="beat", seq=0, score=1.0, threshold=2.0,
                       threshold_source="static", anomalous=anomalous, model_version="v",
                       sent_ms=sent, received_ms=sent, published_ms=published)


def _values(metrics: WorkerMetrics) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(metrics.exposition().decode())
            for s in f.samples}


def test_observe_batch_counts_beats_anomalies_dead_letters_and_latency() -> None:
    metrics = WorkerMetrics()
    dead = DeadLetter(reason="invalid_json", source_topic="t", partition=0, offset=1,
                      payload="x", payload_bytes=1, received_ms=0)
    metrics.observe_batch("beat", 4, [_score(True), _score(False), _score(True)], [dead], 0.002,
                          degraded=True)
    values = _values(metrics)
    assert values[("ecg_records_in_total", (("mode", "beat"),))] == 4
    assert values[("ecg_beats_scored_total", (("mode", "beat"),))] == 3
    assert values[("ecg_anomalies_total", (("mode", "beat"),))] == 2
    assert values[("ecg_dead_letters_total", (("reason", "invalid_json"),))] == 1
    assert values[("ecg_batch_size_beats_sum", ())] == 3
    assert values[("ecg_inference_seconds_count", ())] == 1
    assert values[("ecg_end_to_end_latency_seconds_sum", (("mode", "beat"),))] == 0.75
    assert values[("ecg_redis_degraded", ())] == 1


def test_lag_gauge_follows_the_assignment_and_model_info() -> None:
    metrics = WorkerMetrics()
    metrics.set_lag({("beats", 0): 5, ("beats", 1): -3})
    metrics.set_lag({("beats", 1): 7})
    metrics.set_model("lstm-ae-h64-32", "torch", 44.84)
    values = _values(metrics)
    lags = {k: v for k, v in values.items() if k[0] == "ecg_consumer_lag_records"}
    assert lags == {("ecg_consumer_lag_records", (("partition", "1"), ("topic", "beats"))): 7}
    assert ("ecg_model_info", (("runtime", "torch"), ("threshold", "44.84"),
                               ("version", "lstm-ae-h64-32"))) in values
