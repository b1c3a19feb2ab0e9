"""``ECG_STATE_DIR`` resolves to an absolute path where the settings are read."""

from pathlib import Path

import pytest

from stream.runs.processes import settings_env
from stream.settings import Settings


def test_default_state_dir_resolves_against_the_current_directory(tmp_path, monkeypatch):
    monkeypatch.delenv("ECG_STATE_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.state_dir == tmp_path.resolve() / ".ecg"
    assert settings_env(settings)["ECG_STATE_DIR"] == str(tmp_path.resolve() / ".ecg")


@pytest.mark.parametrize("given", ["state", "~/state"])
def test_relative_and_home_paths_become_absolute(tmp_path, monkeypatch, given):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    resolved = Settings(state_dir=Path(given)).state_dir
    assert resolved.is_absolute() and resolved.name == "state"
    assert resolved.parent in {tmp_path.resolve(), (tmp_path / "home").resolve()}
