"""Prometheus metrics of the alert consumer (``ecg-stream alerts --metrics-port P``).

Served on ``ECG_BIND_HOST`` (default 127.0.0.1), without a token: counts only, no patient data.

Read straight from the consumer's own counts by a prometheus-client collector, so the
exposition always equals the summary the command prints. Names:

| metric | type | meaning |
|---|---|---|
| ``ecg_alert_input_records_total`` | counter | messages read (anomalies, scores, events) |
| ``ecg_alert_malformed_records_total`` | counter | messages that were not score records |
| ``ecg_alerts_total`` | counter | alerts raised (printed and, with ``--publish``, sent) |
| ``ecg_alerts_suppressed_total`` | counter | rule hits suppressed by the cool-down |
| ``ecg_alert_duplicate_events_total`` | counter | repeated beats (same patient and seq) ignored |
| ``ecg_alert_stale_events_total`` | counter | beats older than the patient's window ignored |
| ``ecg_alert_restarts_total`` | counter | producer numbering restarts (the window was reset) |
| ``ecg_alert_windows_expired_total`` | counter | windows of idle patients dropped |
| ``ecg_alert_recovered_records_total`` | counter | records re-read on start to rebuild state |
| ``ecg_monitor_alarms_total`` | counter | monitor and technical alarms raised |
| ``ecg_monitor_alarms_suppressed_total`` | counter | monitor alarms suppressed by the cool-down |
| ``ecg_monitor_events_total`` | counter | signal events read (pause, lead off, signal lost) |
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from stream.alerts.monitor import MonitorCounters
from stream.alerts.rule import AlertCounters


@dataclass
class RunCounts:
    """Messages the consumer read, how many were malformed, how many re-read on start."""

    messages: int = 0
    malformed: int = 0
    recovered: int = 0


class AlertCollector(Collector):
    """Exposes an :class:`AlertCounters` and a :class:`RunCounts` as counters."""

    def __init__(self, counters: AlertCounters, run: RunCounts,
                 monitor: MonitorCounters | None = None) -> None:
        self.counters, self.run = counters, run
        self.monitor = monitor or MonitorCounters()

    def collect(self) -> Iterator[CounterMetricFamily]:
        """One counter family per count."""
        c, r, m = self.counters, self.run, self.monitor
        for name, doc, value in (
            ("ecg_alert_input_records", "Messages read from the input topics", r.messages),
            ("ecg_alert_malformed_records", "Messages that were not records or events",
             r.malformed),
            ("ecg_alerts", "Alerts raised", c.alerts),
            ("ecg_alerts_suppressed", "Rule hits suppressed by the cool-down", c.suppressed),
            ("ecg_alert_duplicate_events", "Repeated beats ignored", c.duplicates),
            ("ecg_alert_stale_events", "Beats older than the patient's window", c.stale),
            ("ecg_alert_restarts", "Numbering restarts that reset a window", c.restarts),
            ("ecg_alert_windows_expired", "Windows of idle patients dropped", c.expired),
            ("ecg_alert_recovered_records", "Records re-read on start to rebuild state",
             r.recovered),
            ("ecg_monitor_alarms", "Monitor and technical alarms raised", m.alarms),
            ("ecg_monitor_alarms_suppressed", "Monitor alarms suppressed by the cool-down",
             m.suppressed),
            ("ecg_monitor_events", "Signal events read", m.events),
        ):
            yield CounterMetricFamily(name, doc, value=value)


def serve_alert_metrics(counters: AlertCounters, run: RunCounts, port: int,
                        addr: str = "127.0.0.1", monitor: MonitorCounters | None = None) -> Any:
    """Start prometheus-client's HTTP server on ``addr:port`` (``ECG_BIND_HOST``); returns it.

    Call ``shutdown()`` on the result to stop it.
    """
    registry = CollectorRegistry()
    registry.register(AlertCollector(counters, run, monitor))
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server
