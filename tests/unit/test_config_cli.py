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
