"""SIGTERM in the middle of a replay, then a new worker: every beat is still scored."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from producers.manifest import read_manifest
from producers.runner import run_replay
from stream.runs.outputs import read_outputs
from stream.runs.processes import start_worker, stop_worker, wait_group_stable
from stream.settings import Settings


def test_sigterm_mid_replay_loses_no_beat(pipeline_settings: Callable[..., Settings],
                                          tmp_path: Path) -> None:
    settings = pipeline_settings(topic_partitions=2)
    first = start_worker(settings, tmp_path / "first.log")
    wait_group_stable(settings, 1, [first])
    manifest = tmp_path / "manifest.jsonl"
    replay = threading.Thread(target=run_replay, args=(settings, "all", manifest),
                              kwargs={"mode": "beat", "patients": 16, "rate": 1500.0})
    replay.start()
    time.sleep(2.0)
    first.send_signal(signal.SIGTERM)
    code = first.wait(timeout=60)
    second = start_worker(settings, tmp_path / "second.log")
    try:
        replay.join(timeout=120)
        header, records = read_manifest(manifest)
        scores, dead = read_outputs(settings, header["started_ms"] - 1000, len(records),
                                    idle_timeout=15.0, timeout=300.0)
    finally:
        stop_worker(second)
    log = (tmp_path / "first.log").read_text()
    seen = Counter((s.patient, s.seq) for s in scores)
    missing = [(r.patient, r.seq) for r in records if (r.patient, r.seq) not in seen]
    duplicates = sum(n - 1 for n in seen.values())
    finished = "in-flight batch" in log
    print(f"sent {len(records)}, scored {len(seen)}, duplicates {duplicates}, "
          f"first worker exit {code}, finished an in-flight batch on SIGTERM: {finished}")
    assert code == 0, log[-2000:]
    assert len(records) == 5000 and dead == []
    assert missing == [], f"{len(missing)} beats lost"
    assert len({s.worker for s in scores}) == 2, "both workers scored beats"
