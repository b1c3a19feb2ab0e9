"""The settings each command reads, for the ``Settings read`` paragraph of its ``--help``.

Names are environment variables; a trailing ``*`` stands for every setting it begins
(``ECG_KAFKA_SASL_*``). ``tests/unit/test_cli_settings_help.py`` checks that every name is a
setting, that every command has the paragraph and that every setting is named by a command.
"""

from __future__ import annotations

KAFKA = ("ECG_KAFKA_BOOTSTRAP", "ECG_KAFKA_SECURITY_PROTOCOL", "ECG_KAFKA_SASL_*",
         "ECG_KAFKA_SSL_*")
REDIS = ("ECG_REDIS_URL", "ECG_REDIS_PASSWORD", "ECG_REDIS_KEY_PREFIX")
TOPICS_IN = ("ECG_TOPIC_BEATS", "ECG_TOPIC_SIGNAL", "ECG_PRODUCER_COMPRESSION")
TOPICS = ("ECG_TOPIC_*", "ECG_PRODUCER_COMPRESSION")
DATA = ("ECG_DATA_DIR", "ECG_CACHE_DIR")
MODEL = ("ECG_CHECKPOINT", "ECG_CHECKPOINT_SHA256", "ECG_MODEL_RUNTIME", "ECG_TORCH_THREADS")
INFRA = ("ECG_KAFKA_VERSION", "ECG_KAFKA_CONTROLLER_PORT", "ECG_KAFKA_HEAP",
         "ECG_INFRA_TIMEOUT_S", "ECG_STATE_DIR", "ECG_KAFKA_BOOTSTRAP", "ECG_REDIS_URL")
INPUT = ("ECG_MAX_PAYLOAD_BYTES", "ECG_MAX_BUFFER_SAMPLES", "ECG_REORDER_WINDOW",
         "ECG_MIN_SAMPLING_RATE", "ECG_MAX_SAMPLING_RATE")
SEGMENTATION = ("ECG_SEGMENT*", "ECG_DETECT_BLOCK_S", "ECG_LEAD_OFF_S", "ECG_SIGNAL_LOST_S",
                "ECG_ALARM_ASYSTOLE_S")
THRESHOLDS = ("ECG_THRESHOLD_*", "ECG_WARMUP_BEATS", "ECG_STATS_*", "ECG_EWMA_ALPHA",
              "ECG_LEARNING_S")
ALERTS = ("ECG_ALERT_*", "ECG_ALARM_*")
WORKER = ("ECG_WORKER_GROUP", "ECG_PROCESSING_GUARANTEE", "ECG_WORKER_SESSION_TIMEOUT_S",
          "ECG_WORKER_WEB_PORT", "ECG_BIND_HOST", "ECG_WEB_TOKEN", "ECG_BATCH_SIZE",
          "ECG_BATCH_WITHIN_MS", "ECG_TOPIC_PARTITIONS", "ECG_TOPIC_REPLICATION",
          "ECG_STATE_DIR", *INPUT, *SEGMENTATION, *THRESHOLDS, "ECG_ALERT_M", "ECG_ALERT_N",
          "ECG_ALERT_COOLDOWN_S")
WORKER_ALL = (*KAFKA, *REDIS, *TOPICS, *MODEL, *WORKER)

COMMANDS: dict[str, tuple[str, ...]] = {
    "alerts": (*KAFKA, "ECG_TOPIC_ANOMALIES", "ECG_TOPIC_SCORES", "ECG_TOPIC_EVENTS",
               "ECG_TOPIC_ALERTS", *ALERTS, "ECG_BIND_HOST"),
    "bench": (*WORKER_ALL, *INFRA, *DATA),
    "board": (*KAFKA, "ECG_TOPIC_SCORES", "ECG_TOPIC_ALERTS", "ECG_TOPIC_EVENTS",
              "ECG_TOPIC_SIGNAL", "ECG_TOPIC_BEATS", "ECG_BOARD_PORT", "ECG_BIND_HOST",
              "ECG_WEB_TOKEN", "ECG_MAX_PAYLOAD_BYTES", "ECG_ALERT_COOLDOWN_S",
              "ECG_LEARNING_S"),
    "config": ("ECG_*",),
    "demo": (*WORKER_ALL, *INFRA, *DATA, *ALERTS),
    "evaluate-record": (*MODEL, *INPUT, *SEGMENTATION, *THRESHOLDS, "ECG_BATCH_SIZE",
                        *ALERTS),
    "evaluate-stream": (*KAFKA, "ECG_TOPIC_SCORES", "ECG_TOPIC_DEADLETTER"),
    "infra": INFRA,
    "model": (*DATA, *MODEL, *INPUT, *SEGMENTATION),
    "relearn": REDIS,
    "replay": (*KAFKA, *TOPICS_IN, "ECG_TOPIC_PARTITIONS", "ECG_TOPIC_REPLICATION", *DATA),
    "smoke": (*KAFKA, *REDIS, *INFRA, "ECG_TOPIC_PARTITIONS"),
    "worker": WORKER_ALL,
}


def settings_epilog(command: str) -> str:
    """The ``Settings read`` paragraph of ``command``'s help (names in first-seen order)."""
    names = list(dict.fromkeys(COMMANDS[command]))
    return ("Settings read (environment variables; `ecg-stream config` shows their values, "
            f"docs/configuration.md what they do): {', '.join(names)}.")
