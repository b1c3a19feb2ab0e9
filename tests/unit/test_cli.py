"""The ``ecg-stream`` surface: help with examples, one-line errors with the next step."""

from __future__ import annotations

import subprocess
import sys

import click
import kafka.errors
import pytest
import redis.exceptions
from click.testing import CliRunner

from stream.cli.base import cli
from stream.cli.errors import explain
from stream.clients.probes import require_kafka
from stream.errors import InfraError
from stream.settings import Settings
from tests.ports import free_port


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
        else:
            found.append((*prefix, name))
    return found


def _registered() -> click.Group:
    import stream.cli.main  # noqa: F401 - registers every command on the root group

    return cli


@pytest.mark.parametrize("path", _commands(_registered()), ids=lambda p: " ".join(p) or "top")
def test_help_renders_with_examples(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "\\b" not in result.output and "\b" not in result.output
    leaves = {("infra", "up"), ("infra", "down"), ("infra", "status")}  # the group has them
    if path not in leaves:
        assert "Example" in result.output, f"no examples in `ecg-stream {' '.join(path)} --help`"



def test_require_kafka_fails_fast_with_the_next_step() -> None:
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{free_port()}")
    with pytest.raises(InfraError, match="ecg-stream infra up"):
        require_kafka(settings, timeout=1.0)


@pytest.mark.parametrize(("exc", "expected"), [
    (kafka.errors.KafkaTimeoutError("Unable to bootstrap from ['h:1']"), "no Kafka broker"),
    (kafka.errors.KafkaConnectionError("refused"), "ECG_KAFKA_BOOTSTRAP"),
    (redis.exceptions.ConnectionError("Error 111 connecting"), "ECG_REDIS_URL"),
    (redis.exceptions.AuthenticationError("invalid password"), "ECG_REDIS_PASSWORD"),
])
def test_client_errors_become_one_line_with_a_hint(exc: Exception, expected: str) -> None:
    message = explain(exc)
    assert message is not None and expected in message and "\n" not in message


def test_other_errors_are_not_disguised() -> None:
    assert explain(ValueError("a bug")) is None


def test_main_exit_codes(tmp_path) -> None:  # noqa: ANN001
    run = [sys.executable, "-m", "stream"]
    usage = subprocess.run([*run, "replay", "--rate", "fast"], capture_output=True, text=True,
                           check=False)
    assert usage.returncode == 2 and "Invalid value" in usage.stderr
    env = {"ECG_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}", "PATH": "/usr/bin:/bin"}
    down = subprocess.run([*run, "replay", "--manifest", str(tmp_path / "m.jsonl")],
                          capture_output=True, text=True, check=False, env=env)
    assert down.returncode == 1
    assert down.stderr.strip().splitlines() == [down.stderr.strip()]  # one line, no traceback
    assert down.stderr.startswith("error: no Kafka broker answers at 127.0.0.1:")


def test_a_commands_exit_code_reaches_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # demo exits 3 when it fell behind, smoke 1 when a round trip failed: click, not in
    # standalone mode, returns such codes instead of exiting; main() must exit with them.
    from stream.cli import main as entry

    @click.command("exits-3")
    def exits_3() -> None:
        raise click.exceptions.Exit(3)

    monkeypatch.setitem(_registered().commands, "exits-3", exits_3)
    monkeypatch.setattr(sys, "argv", ["ecg-stream", "exits-3"])
    with pytest.raises(SystemExit) as stopped:
        entry.main()
    assert stopped.value.code == 3
