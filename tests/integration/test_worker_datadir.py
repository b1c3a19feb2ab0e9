"""Each worker keeps its Faust data folder under the state dir, not in the current directory."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from stream.runs.processes import settings_env, stop_worker, wait_group_stable
from stream.settings import Settings


def _start_in(cwd: Path, settings: Settings, log: Path) -> subprocess.Popen:
    with log.open("ab") as handle:
        return subprocess.Popen([sys.executable, "-m", "stream", "worker", "--loglevel", "info"],
                                env=settings_env(settings), cwd=cwd, stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def test_two_workers_get_their_own_data_folders_under_the_state_dir(
        pipeline_settings: Callable[..., Settings], tmp_path: Path) -> None:
    cwd, state = tmp_path / "cwd", tmp_path / "state"
    cwd.mkdir()
    settings = pipeline_settings(state_dir=state)
    procs = [_start_in(cwd, settings, tmp_path / f"worker-{i}.log") for i in range(2)]
    try:
        wait_group_stable(settings, 2, procs)
        folders = sorted(p.name for p in (state / "faust").iterdir())
        in_cwd = sorted(p.name for p in cwd.iterdir())
    finally:
        codes = [stop_worker(proc) for proc in procs]
    host = socket.gethostname()
    assert in_cwd == []
    assert folders == sorted(f"{settings.worker_group}-{host}-{p.pid}" for p in procs)
    assert codes == [0, 0], [(tmp_path / f"worker-{i}.log").read_text()[-2000:] for i in (0, 1)]
    assert list((state / "faust").iterdir()) == [], "a clean exit removes the worker's folder"
