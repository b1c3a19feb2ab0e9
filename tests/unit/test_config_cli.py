"""``ecg-stream config``: effective settings, masked secrets, and the reference kept in docs."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from pydantic import SecretStr

from stream.cli.config import MASK, config, reference_markdown, reference_rows
from stream.settings import Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_reference_lists_every_setting_with_a_meaning() -> None:
    rows = reference_rows()
    assert [var for var, _, _ in rows] == [f"ECG_{n.upper()}" for n in Settings.model_fields]
    assert all(meaning for _, _, meaning in rows)
    assert ("ECG_BATCH_SIZE", "128", "most beats in one model call") in rows


def test_docs_page_holds_the_generated_reference() -> None:
    text = DOC.read_text(encoding="utf-8")
    begin = text.index("<!-- generated: ecg-stream config --reference -->\n")
    end = text.index("<!-- end of generated table -->")
    table = text[begin:end].split("\n", 1)[1]
    assert table == reference_markdown(), "regenerate with: ecg-stream config --reference"


def test_config_masks_secrets_and_shows_overrides() -> None:
    settings = Settings(redis_password=SecretStr("hunter2"), batch_size=64)
    result = CliRunner().invoke(config, ["--json"], obj=settings)
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["ECG_REDIS_PASSWORD"] == MASK and "hunter2" not in result.stdout
    assert shown["ECG_BATCH_SIZE"] == "64" and shown["ECG_KAFKA_SASL_PASSWORD"] == "–"


def test_config_masks_the_password_inside_a_url_setting() -> None:
    settings = Settings(redis_url="redis://:hunter2@redis:6379/0")
    result = CliRunner().invoke(config, ["--json"], obj=settings)
    assert result.exit_code == 0 and "hunter2" not in result.output
    assert json.loads(result.stdout)["ECG_REDIS_URL"] == f"redis://:{MASK}@redis:6379/0"


def test_kafka_heap_is_a_setting_shown_by_config_and_the_reference(monkeypatch) -> None:
    monkeypatch.setenv("ECG_KAFKA_HEAP", "-Xmx1g")
    result = CliRunner().invoke(config, ["--json"], obj=Settings())
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["ECG_KAFKA_HEAP"] == "-Xmx1g"
    reference = CliRunner().invoke(config, ["--reference"], obj=Settings())
    assert "| `ECG_KAFKA_HEAP` | `-Xmx768m` |" in reference.stdout
    assert "`ECG_KAFKA_HEAP`" in DOC.read_text(encoding="utf-8")


def test_local_broker_gets_the_heap_setting(monkeypatch, tmp_path) -> None:
    import subprocess

    from stream.infra import kafka

    calls: list[list[str]] = []

    def run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(kafka, "java_binary", lambda: "java")
    monkeypatch.setattr(kafka.subprocess, "run", run)  # the storage tool is not run
    settings = Settings(kafka_heap="-Xmx2g", state_dir=tmp_path)
    kafka.format_storage(settings, kafka.KafkaPaths.of(settings), tmp_path)
    [argv] = calls
    assert argv[:2] == ["java", "-Xmx2g"]
