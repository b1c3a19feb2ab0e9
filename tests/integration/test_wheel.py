"""The built wheel works on its own: installed into a fresh venv, run away from the source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("pyproject.toml", "README.md", "LICENSE", "stream", "models", "producers")

# Run inside the new venv from a temporary folder: what is imported, from where, and whether
# the package data (checkpoint, beat shapes, dashboard) came along.
PROBE = """
import json, sys
from importlib import resources
import numpy as np
import models, producers, stream
from models.checkpoint import DEFAULT_DIR
from models.detector import load_detector

detector = load_detector()
scores = detector.score(np.zeros((2, 140), dtype=np.float32))
data = {name: resources.files(pkg).joinpath(name)
        for pkg, name in [("stream.segmentation", "fiducial.json"),
                          ("stream.observe", "dashboard_static/index.html"),
                          ("stream.board", "static/board.html"),
                          ("stream.board", "static/patient.js"),
                          ("stream.infra", "pom.xml")]}
print(json.dumps({
    "prefix": sys.prefix,
    "files": [m.__file__ for m in (stream, models, producers)],
    "checkpoint": str(DEFAULT_DIR),
    "threshold": detector.threshold,
    "scores": [float(s) for s in scores],
    "data": {name: [str(path), path.is_file()] for name, path in data.items()},
}))
"""

pytestmark = pytest.mark.slow


def _run(argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, f"{argv} failed ({done.returncode}):\n{done.stdout}{done.stderr}"
    return done


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(venv, working folder, environment): the wheel installed, the dependencies borrowed.

    The wheel is built from a copy of the sources (no build output in the checkout). The venv
    has no system site-packages; a ``.pth`` file adds the project venv's site-packages for the
    dependencies only (a path added by a .pth file does not run that folder's .pth files, so
    the project's editable install there is not picked up).
    """
    base = tmp_path_factory.mktemp("wheel")
    src, dist, env_dir, work = base / "src", base / "dist", base / "venv", base / "work"
    src.mkdir()
    work.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, src / name)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
          "-q", "-w", str(dist), str(src)], base, env)
    wheels = list(dist.glob("ecg_anomaly_stream-*.whl"))
    assert len(wheels) == 1, wheels

    _run([sys.executable, "-m", "venv", str(env_dir)], base, env)
    python = env_dir / "bin" / "python"
    site = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                base, env).stdout.strip()
    (Path(site) / "project_dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([str(python), "-m", "pip", "install", "-q", "--no-deps", "--no-index",
          str(wheels[0])], base, env)
    env["PATH"] = f"{env_dir / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    return env_dir, work, env


def test_console_command_runs_from_the_wheel(venv: tuple[Path, Path, dict[str, str]]) -> None:
    env_dir, work, env = venv
    command = str(env_dir / "bin" / "ecg-stream")
    helped = _run([command, "--help"], work, env)
    assert "demo" in helped.stdout and "worker" in helped.stdout
    shown = _run([command, "config"], work, env)
    assert "ECG_KAFKA_BOOTSTRAP" in shown.stdout and "ECG_KAFKA_HEAP" in shown.stdout


def test_installed_packages_carry_their_data(venv: tuple[Path, Path, dict[str, str]]) -> None:
    env_dir, work, env = venv
    done = _run([str(env_dir / "bin" / "python"), "-c", PROBE], work, env)
    found = json.loads(done.stdout.strip().splitlines()[-1])
    prefix = Path(found["prefix"]).resolve()
    assert prefix == env_dir.resolve()
    inside = [Path(p).resolve() for p in [*found["files"], found["checkpoint"]]]
    assert all(p.is_relative_to(prefix) for p in inside), found
    assert not any(p.is_relative_to(ROOT) for p in inside), found
    assert found["threshold"] > 0 and len(found["scores"]) == 2
    for name, (path, is_file) in found["data"].items():
        assert is_file, f"{name} is not in the installed package"
        assert Path(path).resolve().is_relative_to(prefix), path
