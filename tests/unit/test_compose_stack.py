"""The compose stack a team runs: the compose file, Prometheus's configuration and rules,
Grafana's provisioning and dashboard, checked without a Docker engine.

``promtool`` (Debian's ``prometheus`` package, which ``.ci/run`` installs) checks the scrape
configuration and the rules, and runs the rules' unit tests; without it these tests fail.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from stream.alerts.metrics import AlertCollector, RunCounts
from stream.alerts.monitor import MonitorCounters
from stream.alerts.rule import AlertCounters
from stream.observe.metrics import WorkerMetrics
from stream.segmentation.pool import SegmenterPool
from stream.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = ROOT / "docker-compose.yml"
SERVICES = {"kafka", "redis", "worker", "replay", "alerts", "board", "prometheus", "grafana"}
_METRIC = re.compile(r"\b(ecg_[a-z0-9_]+|up)\b")
_SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
             "gauge": ("",), "info": ("_info",)}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def _promtool(*args: str, cwd: Path) -> str:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool not found: apt-get install prometheus (.ci/run installs it)")
    done = subprocess.run([tool, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def exported_metrics() -> set[str]:
    """Every series name the worker and the alert consumer export (Prometheus adds ``up``)."""
    worker = WorkerMetrics()
    worker.watch_segmenters(SegmenterPool(Settings()))
    families = list(worker.registry.collect())
    families += list(AlertCollector(AlertCounters(), RunCounts(), MonitorCounters()).collect())
    names = {"up"}
    for family in families:
        names.update(family.name + suffix for suffix in _SUFFIXES[family.type])
    return names


def _expressions(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["expr"]] if isinstance(node.get("expr"), str) else []
        return found + [e for value in node.values() for e in _expressions(value)]
    if isinstance(node, list):
        return [e for value in node for e in _expressions(value)]
    return []


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(compose)
    assert set(compose["services"]) == SERVICES


def test_published_ports_are_loopback_only(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_mounted_files_exist_and_data_reaches_the_apps(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./deploy/"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    for name in ("worker", "replay", "alerts"):
        mounts = {v.split(":")[1] for v in services[name]["volumes"]}
        assert {"/data", "/checkpoints", "/cache"} <= mounts, name
        env = services[name]["environment"]
        assert "ECG_DATA_DIR" in env and "ECG_CHECKPOINT" in env, name
    assert "--metrics-port" in services["alerts"]["command"]


def test_an_empty_compose_setting_means_the_default() -> None:
    settings = Settings(data_dir="", checkpoint="", checkpoint_sha256="")
    assert settings.data_dir is None and settings.checkpoint is None
    assert settings.checkpoint_sha256 is None


def test_prometheus_scrapes_every_worker_and_the_alert_consumer(
        compose: dict[str, Any]) -> None:
    _promtool("check", "config", "prometheus.yml", cwd=DEPLOY / "prometheus")
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    services = compose["services"]
    worker_port = int(services["worker"]["environment"]["ECG_WORKER_WEB_PORT"])
    # DNS service discovery on the service name: one target per `--scale` replica.
    (dns,) = jobs["ecg-worker"]["dns_sd_configs"]
    assert dns["names"] == ["worker"] and dns["port"] == worker_port
    command = services["alerts"]["command"]
    alerts_port = command[command.index("--metrics-port") + 1]
    assert jobs["ecg-alerts"]["static_configs"][0]["targets"] == [f"alerts:{alerts_port}"]
    command = services["board"]["command"]
    board_port = command[command.index("--port") + 1]
    assert jobs["ecg-board"]["static_configs"][0]["targets"] == [f"board:{board_port}"]
    assert services["board"]["ports"] == [f"127.0.0.1:{board_port}:{board_port}"]


def test_alerting_rules_pass_their_unit_tests() -> None:
    out = _promtool("check", "rules", "rules.yml", cwd=DEPLOY / "prometheus")
    assert "SUCCESS: 8 rules found" in out
    _promtool("test", "rules", "rules_test.yml", cwd=DEPLOY / "prometheus")
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    names = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tests = yaml.safe_load((DEPLOY / "prometheus" / "rules_test.yml").read_text())
    fired = {case["alertname"] for test in tests["tests"]
             for case in test.get("alert_rule_test", []) if case.get("exp_alerts")}
    assert fired == names, "every rule has a unit test in which it fires"


def test_dashboard_and_rules_use_only_exported_metrics() -> None:
    exported = exported_metrics()
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "ecg-stream.json").read_text())
    rules = yaml.safe_load((DEPLOY / "prometheus" / "rules.yml").read_text())
    for source, exprs in (("dashboard", _expressions(dashboard["panels"])),
                          ("rules", _expressions(rules["groups"]))):
        assert exprs, source
        used = {m for expr in exprs for m in _METRIC.findall(expr)}
        assert used - exported == set(), f"{source} uses metrics nobody exports"
    # The headline figures are all there; no per-patient label anywhere.
    text = json.dumps(dashboard)
    for metric in ("ecg_beats_scored_total", "ecg_consumer_lag_records",
                   "ecg_end_to_end_latency_seconds_bucket", "ecg_anomalies_total",
                   "ecg_alerts_total", "ecg_redis_degraded", "ecg_dead_letters_total"):
        assert metric in text
    assert not re.search(r"[{,(]\s*patient\b", " ".join(_expressions(dashboard["panels"])))


def test_grafana_provisions_the_dashboard_from_the_repository() -> None:
    source = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (datasource,) = source["datasources"]
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "ecg-stream.json").read_text())
    uids = {panel["datasource"]["uid"] for panel in dashboard["panels"]}
    assert uids == {datasource["uid"]} and datasource["url"] == "http://prometheus:9090"
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    provider = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "dashboards" / "ecg-stream.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
