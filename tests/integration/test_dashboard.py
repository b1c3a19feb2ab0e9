"""The live dashboard of a real worker, driven in headless Chromium while beats stream in.

Needs Debian's ``chromium`` (or ``ECG_CHROMIUM`` pointing at a Chromium/Chrome binary); a
missing browser fails the test. The screenshot is saved as a test artifact under
``ECG_TEST_ARTIFACTS`` (default ``artifacts/test``).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from models.detector import load_detector
from producers.runner import run_replay
from stream.settings import Settings
from tests.ports import free_port

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("require_data")]
ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-quic", "--no-first-run", "--disable-component-update",
                 "--disable-sync"]



def _chromium() -> str:
    for candidate in (os.environ.get("ECG_CHROMIUM"), "chromium", "chromium-browser",
                      "google-chrome"):
        found = candidate and shutil.which(candidate)
        if found:
            return found
    pytest.fail("no Chromium: install it (Debian: apt-get install chromium) or set ECG_CHROMIUM")


@pytest.fixture
def page() -> Iterator[Any]:
    """A page of headless Chromium (Playwright driving the system browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": 1200, "height": 1400})
        finally:
            browser.close()


def _artifacts() -> Path:
    path = Path(os.environ.get("ECG_TEST_ARTIFACTS", ROOT / "artifacts" / "test"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def test_dashboard_shows_and_updates_live_data(pipeline_settings: Callable[..., Settings],
                                               workers, page: Any, tmp_path: Path) -> None:
    port = free_port()
    settings = pipeline_settings(worker_web_port=port)
    workers(settings, 1)
    # The worker's ready line (stdout, in its log) gives the address served.
    deadline, ready = time.monotonic() + 20, []
    while not ready and time.monotonic() < deadline:
        ready = [line for line in (tmp_path / "worker-0.log").read_text().splitlines()
                 if " ready: group " in line]
        time.sleep(0.2)
    assert len(ready) == 1 and f"http://127.0.0.1:{port}/dashboard/" in ready[0], ready
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    # The seed test split (2226 beats, 2081 anomalous) as 4 patients at 150 beats/s: ~15 s.
    replay = threading.Thread(target=run_replay, args=(settings, "seed-test",
                                                       tmp_path / "m.jsonl"),
                              kwargs={"mode": "beat", "patients": 4, "rate": 150.0})
    replay.start()
    try:
        page.goto(f"http://127.0.0.1:{port}/dashboard/")
        page.wait_for_function("Number(document.getElementById('beats-scored').textContent) > 0",
                               timeout=30_000)
        first = int(page.inner_text("#beats-scored"))
        # It updates live: the count grows while the replay runs, without a reload.
        page.wait_for_function(f"Number(document.getElementById('beats-scored')"
                               f".textContent) > {first}", timeout=15_000)
        page.wait_for_function("document.querySelectorAll('#anomaly-table tbody tr').length > 0"
                               " && ecgDashboard.charts.trace.data[1].length >= 140"
                               " && ecgDashboard.charts.scores.data[1].length > 0",
                               timeout=15_000)
    finally:
        replay.join()
    page.wait_for_function("Number(document.getElementById('beats-scored').textContent) == 2226",
                           timeout=30_000)
    page.wait_for_function("document.querySelectorAll('#alert-table tbody tr').length > 0",
                           timeout=10_000)
    # The throughput series holds whole seconds only: the last beats appear in it once their
    # second is over. Then the whole run is in the 2-minute window.
    page.wait_for_function("ecgDashboard.last.throughput.reduce((n, row) => n + row[1], 0)"
                           " === 2226", timeout=10_000)
    page.screenshot(path=str(_artifacts() / "dashboard.png"), full_page=True)

    state = page.evaluate("ecgDashboard.last")
    assert page.inner_text("#status") == "live"
    # Legends name the series (no "--" placeholders); the time axis reads UTC, 24-hour.
    legends = page.evaluate("Array.from(document.querySelectorAll('.u-legend'), e => e.innerText)")
    assert legends and not any("--" in text for text in legends), legends
    ticks = page.evaluate("ecgDashboard.charts.throughput.axes[0].values(ecgDashboard.charts"
                          ".throughput, [1796300000])")
    assert ticks == ["12:13:20"], ticks
    assert state["beats_scored"] == 2226 and state["anomalies"] > 0 and state["alerts"] > 0
    assert sum(p["beats"] for p in state["patients"]) == 2226 and len(state["patients"]) == 4
    assert float(page.inner_text("#beats-per-s")) >= 0
    assert sum(row[1] for row in state["throughput"]) == 2226
    assert page.evaluate("ecgDashboard.charts.throughput.data[1].some(v => v > 0)")
    # The trace is the selected patient's model input and its reconstruction by the model.
    patient = state["patient"]
    assert patient["patient"] == page.input_value("#patient-select")
    samples = np.array(patient["samples"], dtype=np.float32)
    recon = load_detector(settings.checkpoint).reconstruct(samples)
    assert np.allclose(recon, np.array(patient["reconstructions"]), atol=1e-3)
    assert page.evaluate("ecgDashboard.charts.trace.data[1].length") == samples.size

    # Choosing another patient switches the trace to that patient.
    other = next(p["patient"] for p in state["patients"] if p["patient"] != patient["patient"])
    page.select_option("#patient-select", other)
    page.wait_for_function(f"ecgDashboard.last.patient.patient === {json.dumps(other)}",
                           timeout=10_000)
    url = f"http://127.0.0.1:{port}/dashboard/snapshot?patient={other}"
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - local test URL
        snapshot = json.loads(response.read())
    assert snapshot["patient"]["samples"] == page.evaluate("ecgDashboard.last.patient.samples")
    assert errors == []
