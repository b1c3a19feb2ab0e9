"""CLI messages: settings named in every --help, one line for a taken port or a bad TLS file."""

from __future__ import annotations

import fnmatch
import socket
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from stream.cli.base import cli
from stream.cli.settings_help import COMMANDS
from stream.clients.kafka import ssl_context
from stream.clients.probes import require_free_port
from stream.errors import ConfigError
from stream.settings import Settings
from stream.worker.ready import ready_line
from tests.unit.test_cli import _commands, _registered

ENV_NAMES = [f"ECG_{name.upper()}" for name in Settings.model_fields]


def test_every_name_is_a_setting_and_every_setting_is_named() -> None:
    named: set[str] = set()
    for command, patterns in COMMANDS.items():
        for pattern in patterns:
            matches = fnmatch.filter(ENV_NAMES, pattern)
            assert matches, f"{command}: {pattern} names no setting"
            if pattern != "ECG_*":
                named.update(matches)
    assert set(ENV_NAMES) - named == set(), "settings no command's help names"


@pytest.mark.parametrize("path", [p for p in _commands(_registered()) if p],
                         ids=lambda p: " ".join(p))
def test_help_names_the_settings_read(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    text = " ".join(result.output.split())
    assert "Settings read" in text
    for pattern in COMMANDS[path[0]]:
        assert pattern in text


def test_worker_help_names_its_web_port() -> None:
    text = " ".join(CliRunner().invoke(cli, ["worker", "--help"]).output.split())
    assert "ECG_WORKER_WEB_PORT" in text and "ECG_BIND_HOST" in text


def test_a_taken_port_is_one_line_naming_the_setting() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ConfigError, match=f"127.0.0.1:{port} is in use.*ECG_WORKER_WEB_PORT"):
            require_free_port("127.0.0.1", port, "ECG_WORKER_WEB_PORT")
    require_free_port("127.0.0.1", port, "ECG_WORKER_WEB_PORT")  # free again: no error


def test_a_missing_or_bad_ca_file_names_the_setting_and_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    settings = Settings(kafka_security_protocol="SSL", kafka_ssl_cafile=missing)
    with pytest.raises(ConfigError, match=f"ECG_KAFKA_SSL_CAFILE={missing}: no such file"):
        ssl_context(settings)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    with pytest.raises(ConfigError, match="ECG_KAFKA_SSL_CAFILE: could not load"):
        ssl_context(settings.model_copy(update={"kafka_ssl_cafile": bad}))
    assert ssl_context(Settings(kafka_security_protocol="SSL")) is not None  # system CAs


def test_ready_line_gives_the_addresses_and_no_secret() -> None:
    settings = Settings(worker_web_port=6077, redis_url="redis://:hunter2@db:6379/0",
                        web_token="x" * 20)
    line = ready_line(settings, "w1", "lstm-v1")
    assert "http://127.0.0.1:6077/dashboard/" in line and "/metrics" in line
    assert "hunter2" not in line and "x" * 20 not in line and "ECG_WEB_TOKEN" in line
    assert "ecg.beats" in line and "lstm-v1" in line
    off = ready_line(Settings(), "w1", "lstm-v1")
    assert "no web pages (set ECG_WORKER_WEB_PORT" in off
    v6 = ready_line(Settings(worker_web_port=6077, bind_host="::1"), "w1", "m")
    assert "http://[::1]:6077/" in v6


def test_groups_have_their_settings_paragraph() -> None:
    for name in ("infra", "model"):
        command = _registered().commands[name]
        assert isinstance(command, click.Group)
        assert "Settings read" in (command.epilog or "")
