"""``ecg-stream alerts``: consume the output topics, print alerts, optionally publish them.

Offsets are committed after each polled batch has been handled (alerts printed and, with
``--publish``, acknowledged by the broker), so a crash repeats input rather than losing it.
The rules' state lives in memory and is rebuilt on start by re-reading
``ECG_ALERT_RECOVER_S`` of input before the committed offsets; a patient's window is dropped
after ``ECG_ALERT_IDLE_S`` without a record of it (event time), so memory stays bounded.
"""

from __future__ import annotations

import json

import click

from stream.alerts.consumer import (
    RunLimits,
    consume,
    counts,
    make_rules,
    open_consumer,
    open_publisher,
)
from stream.alerts.metrics import RunCounts, serve_alert_metrics
from stream.alerts.rule import format_alert
from stream.cli.base import json_option
from stream.cli.settings_help import settings_epilog
from stream.clients.probes import require_free_port, require_kafka
from stream.settings import Settings
from stream.wire.schemas import Alert


@click.command("alerts", epilog=settings_epilog("alerts"))
@json_option("Print alerts as JSON lines.")
@click.option("--publish/--no-publish", default=False, show_default=True,
              help="Also send each alert (JSON, key = patient) to the alerts topic.")
@click.option("--monitor/--no-monitor", default=True, show_default=True,
              help="Also raise the monitor alarms (asystole, brady-/tachycardia, VT) and the "
                   "technical ones (lead off, signal lost) from ecg.scores and ecg.events.")
@click.option("--from-beginning", is_flag=True,
              help="Read the topics from their first offsets, not from the group's.")
@click.option("--group", default="ecg-alerts", show_default=True, help="Consumer group id.")
@click.option("--max-messages", type=click.IntRange(min=1), default=None,
              help="Stop after this many messages.")
@click.option("--idle-timeout", type=click.FloatRange(min=0), default=None,
              help="Stop after this many seconds without a message.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), default=None,
              help="Serve Prometheus metrics (ecg_alerts_total, ...) on this port "
                   "(address: ECG_BIND_HOST).")
@click.pass_obj
def alerts(settings: Settings, as_json: bool, publish: bool, monitor: bool,
           from_beginning: bool, group: str, max_messages: int | None,
           idle_timeout: float | None, metrics_port: int | None) -> None:
    """Raise alerts: runs of anomalous beats, monitor alarms, technical alarms.

    Anomaly runs: at least m of a patient's last n beats anomalous, from the anomalies topic
    (ECG_TOPIC_ANOMALIES; ECG_ALERT_M, ECG_ALERT_N). Monitor alarms (continuous mode, the
    PhysioNet/CinC 2015 definitions: ECG_ALARM_ASYSTOLE_S, ECG_ALARM_BRADY_BPM/_BEATS,
    ECG_ALARM_TACHY_BPM/_BEATS, ECG_ALARM_VT_BPM/_BEATS) from the scores topic
    (ECG_TOPIC_SCORES) and the workers' signal events (ECG_TOPIC_EVENTS), which also bring
    the technical alarms (lead off, signal lost: ECG_LEAD_OFF_S, ECG_SIGNAL_LOST_S). Each
    kind of alarm of a patient is quiet for ECG_ALERT_COOLDOWN_S after it fired; duplicated
    events are ignored; a producer restarting its numbering resets the patient's window
    (logged, counted as restarts); windows of patients without a record for ECG_ALERT_IDLE_S
    expire. On start, ECG_ALERT_RECOVER_S of input before the committed offsets is re-read
    (alerting nothing) to rebuild the state. A summary goes to stderr at the end.

    \b
    Examples:
      ecg-stream alerts                          # human-readable lines, runs until Ctrl-C
      ecg-stream alerts --json --publish         # JSON lines, also sent to ecg.alerts
      ecg-stream alerts --from-beginning --idle-timeout 10 --metrics-port 9101
    """
    try:
        rules = make_rules(settings, monitor)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    require_kafka(settings)
    if metrics_port:
        require_free_port(settings.bind_host, metrics_port, "--metrics-port")
    run = RunCounts()
    server = (serve_alert_metrics(rules.tracker.counters, run, metrics_port, settings.bind_host,
                                  rules.monitor.counters if rules.monitor else None)
              if metrics_port else None)
    publisher = open_publisher(settings) if publish else None
    consumer = open_consumer(settings, group, from_beginning, rules.topics)

    def show(alert: Alert) -> None:
        click.echo(alert.model_dump_json(by_alias=True) if as_json else format_alert(alert))

    try:
        summary = consume(rules, consumer, show, RunLimits(max_messages, idle_timeout), run,
                          publisher, on_malformed=lambda line: click.echo(line, err=True))
    except KeyboardInterrupt:
        summary = {"interrupted": 1, **counts(rules, run)}
    finally:
        consumer.close()
        if publisher is not None:
            publisher.producer.close(timeout=10)
        if server is not None:
            server.shutdown()
    click.echo("alerts summary: " + json.dumps(summary, sort_keys=True), err=True)
