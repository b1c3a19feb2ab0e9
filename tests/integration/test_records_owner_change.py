"""A real recording across a worker crash: the QRS segmenter's beats survive a change of owner.

Four patients play MIT-BIH record 100 (lead MLII, mV, 360 Hz, at offsets) at 40x real time on
two partitions. The worker that owns them is killed (SIGKILL) mid-replay and a new one takes
them over: it reads the frames after the last committed offsets again, starts a detector of
its own on them (a new learning phase) and re-cuts beats the first owner had published. The
evaluation merges a beat's records by fiducial; the EC57 figures must be those of a run
without a crash, and the new owner must have scored beats of every patient it took over.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from producers.record_replay import RecordReplayOptions
from producers.runner import record_replay
from stream.runs.outputs import evaluate_manifest, read_outputs
from stream.runs.processes import start_worker, stop_worker, wait_group_stable
from stream.settings import Settings
from tests.integration.conftest import crash_and_replace

pytestmark = pytest.mark.integration


def test_worker_crash_on_a_real_recording_keeps_the_beats(
        pipeline_settings: Callable[..., Settings], mitdb_record: Path, tmp_path: Path) -> None:
    settings = pipeline_settings(topic_partitions=2)
    first = start_worker(settings, tmp_path / "first.log")
    wait_group_stable(settings, 1, [first])
    manifest = tmp_path / "manifest.jsonl"
    sent: dict[str, Any] = {}
    opts = RecordReplayOptions(patients=4, speed=40.0)

    def replay() -> None:
        sent.update(record_replay(settings, [mitdb_record.with_suffix(".hea")], "MLII",
                                  manifest, opts))

    thread = threading.Thread(target=replay, daemon=True)
    thread.start()
    time.sleep(15.0)  # 10 minutes of signal: well past the first owner's first commits
    second = crash_and_replace(settings, first, tmp_path / "second.log")  # frames read again
    try:
        thread.join(240)
        assert not thread.is_alive(), "replay did not finish"
        report = evaluate_manifest(settings, manifest, idle_timeout=20.0, timeout=300.0)
        scores, _ = read_outputs(settings, 0, report["beats_scored"], idle_timeout=5.0,
                                 timeout=60.0)
    finally:
        stop_worker(second)
    owners: dict[str, set[str]] = defaultdict(set)
    for score in scores:
        if score.mode == "continuous":
            owners[score.patient].add(score.worker)
    overall = report["ec57"]["overall"]
    print(f"owner change on record 100: {sent.get('beats_sent')} beats sent, "
          f"{report['beats_scored']} scored, {report['duplicates']} re-cuts merged, owners "
          f"{ {p: len(w) for p, w in owners.items()} }, EC57 all {overall['all']['se']} / "
          f"{overall['all']['ppv']}, after learning {overall['after_learning']['se']} / "
          f"{overall['after_learning']['ppv']}")
    assert sent["beats_sent"] == 4 * 2273
    assert owners and all(len(w) == 2 for w in owners.values()), owners  # every patient moved
    assert report["duplicates"] > 0  # the new owner re-cut beats the first had published
    assert report["dead_lettered"] == 0 and report["without_fiducial"] == 0
    assert overall["after_learning"]["se"] >= 0.999
    assert overall["after_learning"]["ppv"] >= 0.999
    assert overall["all"]["fp"] == 0
