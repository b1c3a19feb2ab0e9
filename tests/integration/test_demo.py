"""The README's first command, ``ecg-stream demo``, on the real broker and Redis."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import redis

from stream.runs.demo import run_demo
from stream.runs.verdict import assess, summary_lines
from stream.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("require_data")]


def test_demo_accounts_for_every_beat_and_matches_offline(
        pipeline_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = pipeline_settings()
    report = run_demo(settings, tmp_path, "beat", rate=0.0, patients=32, progress=False)

    assert report["beats_sent"] == report["beats_scored"] == 2226
    assert (report["missing"], report["duplicates"], report["dead_lettered"]) == (0, 0, 0)
    assert report["worker_exit_code"] == 0
    # Identical scores and, against the threshold the stream used for each beat, identical
    # decisions to scoring the same beats offline.
    assert report["max_score_diff"] <= 1e-4
    assert report["decisions_match_offline"] == 2226
    # Adaptive mode, but each run starts from empty statistics, and the demo's 32 patients
    # (about 70 beats each, 93.5 % anomalous) never collect the 32 beats judged normal that
    # end warm-up: the static threshold decides every beat.
    assert report["threshold_mode"] == "adaptive"
    assert report["threshold_sources"] == {"static": 2226}
    assert report["f1"] == report["offline_f1"] > 0.9
    assert set(report["latency_ms"]) == {"p50", "p95", "p99"}
    assert report["beat_latency_ms"] == report["latency_ms"] == report["frame_latency_ms"]
    # What the summary says of it: every beat scored, and plainly that the static threshold
    # judged every beat although the mode is adaptive.
    assessed = assess(report)
    assert assessed["exit_code"] == 0 and assessed["verdict"].startswith("OK: every one")
    assert assessed["kept_up"] is None  # rate 0: nothing was offered to keep up with
    assert assessed["thresholds_in_force"] == "static"
    assert any("ECG_WARMUP_BEATS" in note for note in assessed["notes"])
    text = "\n".join(summary_lines(assessed))
    assert "2,226 sent, 2,226 scored" in text and "{" not in text
    client = redis.Redis.from_url(settings.redis_url)
    try:
        assert not list(client.scan_iter(match=f"{settings.redis_key_prefix}:demo:*"))
    finally:
        client.close()
