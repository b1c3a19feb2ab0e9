"""The line a worker prints once it is consuming: what it reads and the addresses it serves."""

from __future__ import annotations

from stream.redact import redact_urls
from stream.settings import Settings


def web_base(settings: Settings) -> str | None:
    """``http://host:port`` of the worker's web server, or None when it has none."""
    if settings.worker_web_port is None:
        return None
    host = settings.bind_host
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{settings.worker_web_port}"


def ready_line(settings: Settings, worker: str, model_version: str) -> str:
    """One line: worker, group, model, topics, services and pages (no secret in it)."""
    line = (f"worker {worker} ready: group {settings.worker_group}, model {model_version}, "
            f"reading {settings.topic_beats} and {settings.topic_signal} from Kafka "
            f"{settings.kafka_bootstrap}, Redis {redact_urls(settings.redis_url)}")
    base = web_base(settings)
    if base is None:
        return f"{line}; no web pages (set ECG_WORKER_WEB_PORT for /health, /metrics, /dashboard/)"
    token = " (token: ECG_WEB_TOKEN)" if settings.web_token is not None else ""
    return (f"{line}; dashboard {base}/dashboard/{token}, metrics {base}/metrics, "
            f"health {base}/health")
