"""Passwords inside URLs stay out of `ecg-stream config`, usage errors and error messages."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import redis.exceptions
from click.testing import CliRunner
from pydantic import SecretStr, ValidationError

from stream.cli.config import MASK, config, reference_markdown
from stream.cli.errors import explain
from stream.redact import redact_urls
from stream.settings import Settings

PASSWORD = "hunter2-Pw"


@pytest.mark.parametrize(("text", "expected"), [
    (f"redis://:{PASSWORD}@redis:6379/0", f"redis://:{MASK}@redis:6379/0"),
    (f"rediss://ecg:{PASSWORD}@h/0", f"rediss://ecg:{MASK}@h/0"),
    (f"redis://ecg:p@ss{PASSWORD}@h:1/0", f"redis://ecg:{MASK}@h:1/0"),  # "@" in the password
    (f"redis://h:6379/0?password={PASSWORD}&db=1", f"redis://h:6379/0?password={MASK}&db=1"),
    (f"URL 'redis://:{PASSWORD}@h' is bad", f"URL 'redis://:{MASK}@h' is bad"),
    ("redis://localhost:6379/0", "redis://localhost:6379/0"),
    ("redis://user@host:1/0", "redis://user@host:1/0"),
    ("localhost:9092,other:9093", "localhost:9092,other:9093"),
])
def test_redact_urls_masks_only_the_password(text: str, expected: str) -> None:
    assert redact_urls(text) == expected


def test_config_masks_a_password_inside_the_redis_url() -> None:
    settings = Settings(redis_url=f"redis://:{PASSWORD}@redis:6379/0")
    result = CliRunner().invoke(config, ["--json"], obj=settings)
    assert result.exit_code == 0, result.output
    assert PASSWORD not in result.output
    assert json.loads(result.stdout)["ECG_REDIS_URL"] == f"redis://:{MASK}@redis:6379/0"
    plain = CliRunner().invoke(config, [], obj=settings)
    assert PASSWORD not in plain.output and f"redis://:{MASK}@redis" in plain.output
    assert PASSWORD not in str(settings.redacted())
    assert "redis://localhost:6379/0" in reference_markdown()


@pytest.mark.parametrize("url", [f"http://:{PASSWORD}@h:6379/0", f"redis://:{PASSWORD}@h:port/0"])
def test_an_invalid_url_error_does_not_echo_its_password(url: str) -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(redis_url=url)
    assert PASSWORD not in str(caught.value)
    assert all(PASSWORD not in str(e["msg"]) for e in caught.value.errors())
    assert "redis URL" in str(caught.value)


def test_the_cli_usage_error_for_an_invalid_url_names_it_without_the_password() -> None:
    done = subprocess.run([sys.executable, "-m", "stream", "--redis-url",
                           f"http://:{PASSWORD}@h:6379/0", "config"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert PASSWORD not in done.stdout + done.stderr
    assert f"http://:{MASK}@h:6379/0" in done.stderr and "must start with redis://" in done.stderr


def test_a_validation_error_of_any_setting_hides_the_input() -> None:
    with pytest.raises(ValidationError) as caught:
        Settings(batch_size=f"redis://:{PASSWORD}@h")  # type: ignore[arg-type]
    assert PASSWORD not in str(caught.value)


def test_web_token_is_a_secret_of_16_or_more_characters() -> None:
    settings = Settings(web_token=SecretStr("t" * 16))
    assert "t" * 16 not in repr(settings) and "t" * 16 not in str(settings.redacted())
    assert Settings(web_token="").web_token is None  # docker-compose's "${ECG_WEB_TOKEN:-}"
    with pytest.raises(ValidationError, match="at least 16 characters"):
        Settings(web_token=SecretStr("short"))


def test_bind_host_defaults_to_loopback_and_refuses_junk() -> None:
    assert Settings().bind_host == "127.0.0.1"
    assert Settings(bind_host="0.0.0.0").bind_host == "0.0.0.0"  # noqa: S104
    with pytest.raises(ValidationError, match="bind host"):
        Settings(bind_host="http://0.0.0.0/")


def test_client_error_messages_mask_urls_and_name_authentication() -> None:
    message = explain(redis.exceptions.ConnectionError(f"cannot reach redis://:{PASSWORD}@h"))
    assert message is not None and PASSWORD not in message
    auth = explain(redis.exceptions.AuthenticationError("WRONGPASS invalid username-password"))
    assert auth is not None and auth.startswith("Redis authentication failed")


def test_a_bootstrap_failure_with_an_answering_port_is_not_called_no_broker() -> None:
    import socket

    import kafka.errors

    with socket.create_server(("127.0.0.1", 0)) as server:
        port = server.getsockname()[1]
        message = explain(kafka.errors.KafkaTimeoutError(
            f"Unable to bootstrap from ['127.0.0.1:{port}']"))
    assert message is not None and "no Kafka broker answers" not in message
    assert f"the Kafka port 127.0.0.1:{port} accepts connections" in message
    assert "ECG_KAFKA_SECURITY_PROTOCOL" in message and "infra up" not in message
    closed = explain(kafka.errors.KafkaTimeoutError(
        f"Unable to bootstrap from ['127.0.0.1:{port}']"))
    assert closed is not None and closed.startswith("no Kafka broker answers")
