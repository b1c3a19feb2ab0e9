"""Shared fixtures: settings, unique names, and the real Kafka and Redis for integration tests.

The integration tier starts the local Kafka (KRaft) and Redis through the project's own
launcher when none answers at the configured addresses, and stops only what it started.
An unreachable service fails the run; it never turns into a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from stream.infra import services
from stream.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    """Without ECG_DATA_DIR, fetch ECG5000 once with the project's loader (verified, cached).

    A machine without the data and without network then fails the data tests with the
    loader's message naming ECG_DATA_DIR; nothing is skipped.
    """
    if os.environ.get("ECG_DATA_DIR"):
        return
    from models.data import load_ecg5000
    from stream.errors import DataError

    cache = Settings().cache_dir
    try:
        load_ecg5000(None, cache)
    except DataError as exc:
        config.issue_config_time_warning(pytest.PytestConfigWarning(str(exc)), stacklevel=2)
        return
    os.environ["ECG_DATA_DIR"] = str(cache / "ecg5000")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration as ``integration``."""
    for item in items:
        if "integration" in item.path.parts:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def settings() -> Settings:
    """Settings from the environment, with the state folder pinned to the project root."""
    state = os.environ.get("ECG_STATE_DIR", str(ROOT / ".ecg"))
    return Settings(state_dir=Path(state))


@pytest.fixture(scope="session")
def infra(settings: Settings) -> Iterator[Settings]:
    """Kafka and Redis, up for the whole session; what this fixture started is stopped after."""
    states = services.up(settings)
    for state in states:
        if state.state != "running":
            pytest.fail(f"{state.name} is not running: {state}")
    yield settings
    services.down(settings, only_started=states)


@pytest.fixture
def require_data() -> Path:
    """The ECG5000 folder from ECG_DATA_DIR; its absence fails the test (never a skip)."""
    directory = os.environ.get("ECG_DATA_DIR")
    if not directory or not (Path(directory) / "ECG5000_TEST.txt").is_file():
        pytest.fail("set ECG_DATA_DIR to a folder with ECG5000_TRAIN.txt and ECG5000_TEST.txt "
                    "(CI: ../shared/data/ecg5000)")
    return Path(directory)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A factory of names unique to this test (topics, groups, Redis key prefixes)."""
    token = uuid.uuid4().hex[:10]

    def make(stem: str) -> str:
        return f"test.{stem}.{token}"

    return make


@pytest.fixture
def mitdb_record() -> Path:
    """MIT-BIH record 100 (``100.hea/.dat/.atr``) from ECG_MITDB_DIR, as a WFDB record path.

    Its absence fails the test (never a skip); CI points ECG_MITDB_DIR at ../shared/data/mitdb.
    """
    directory = os.environ.get("ECG_MITDB_DIR")
    if not directory or not all((Path(directory) / f"100.{ext}").is_file()
                                for ext in ("hea", "dat", "atr")):
        pytest.fail("set ECG_MITDB_DIR to a folder with MIT-BIH record 100 (100.hea, 100.dat, "
                    "100.atr; CI: ../shared/data/mitdb)")
    return Path(directory) / "100"
