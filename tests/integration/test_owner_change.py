"""Continuous mode across a worker crash: beat identity survives the change of owner.

The worker that owns the patients is killed (SIGKILL) mid-replay and a new one takes them
over. Its ``seq`` starts again at 0 and it re-cuts the frames it reads again, onsets a few
samples off. The evaluation must count those re-cuts as duplicates (not as new detections),
and the alert rule must drop no new anomaly as stale across the change of owner.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest

from producers.manifest import read_manifest
from producers.runner import run_replay
from stream.alerts.rule import AlertTracker
from stream.runs.evaluation import evaluate_run
from stream.runs.outputs import read_outputs
from stream.runs.processes import start_worker, stop_worker, wait_group_stable
from stream.settings import Settings
from stream.wire.identity import beat_clusters
from stream.wire.schemas import Alert, ScoreRecord, now_ms
from tests.integration.conftest import crash_and_replace

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("require_data")]


def _replay_in_thread(settings: Settings, manifest: Path) -> threading.Thread:
    def target() -> None:
        run_replay(settings, "seed-test", manifest, mode="continuous", patients=8, rate=250.0,
                   hrv=(120, 160), frame_size=128, seed=3)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def _outcomes(tracker: AlertTracker, records: list[ScoreRecord]
              ) -> tuple[list[Alert], list[ScoreRecord]]:
    """Alerts raised, and the records the tracker counted stale."""
    alerts, stale = [], []
    for record in records:
        before = tracker.counters.stale
        alert = tracker.observe(record)
        alerts += [alert] if alert is not None else []
        stale += [record] if tracker.counters.stale > before else []
    return alerts, stale


def _seen_before(scores: list[ScoreRecord]) -> set[tuple[str, int, int]]:
    """(patient, onset, published) of every record of a beat already published before it."""
    later = set()
    for group in beat_clusters(scores):
        later |= {(r.patient, r.onset_sample or 0, r.published_ms) for r in group[1:]}
    return later


def _first_cuts(scores: list[ScoreRecord]) -> list[ScoreRecord]:
    """Each patient's records less the re-cuts: those whose samples overlap an earlier
    published record's by more than half of the shorter one (a rule apart from the tolerance
    of :mod:`stream.wire.identity`, which the report uses)."""
    kept: list[ScoreRecord] = []
    spans: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for score in sorted(scores, key=lambda s: s.published_ms):
        begin = score.onset_sample or 0
        end = begin + (score.resampled_from or 140)
        if all(min(end, e) - max(begin, b) <= min(end - begin, e - b) / 2
               for b, e in spans[score.patient]):
            kept.append(score)
            spans[score.patient].append((begin, end))
    return kept


def test_worker_crash_in_continuous_mode_keeps_beat_identity(
        pipeline_settings: Callable[..., Settings], tmp_path: Path) -> None:
    settings = pipeline_settings(segmenter="templates", topic_partitions=2, threshold_mode="static",
                                 segment_idle_flush_ms=3000)
    first = start_worker(settings, tmp_path / "first.log")
    wait_group_stable(settings, 1, [first])
    manifest = tmp_path / "manifest.jsonl"
    replay = _replay_in_thread(settings, manifest)
    time.sleep(6.0)  # after the first owner's first commits
    killed_ms = now_ms()
    second = crash_and_replace(settings, first, tmp_path / "second.log")  # frames read again
    try:
        replay.join(240)
        assert not replay.is_alive(), "replay did not finish"
        header, records = read_manifest(manifest)
        scores, dead = read_outputs(settings, header["started_ms"] - 1000, len(records),
                                    idle_timeout=20.0, timeout=300.0)
    finally:
        stop_worker(second)
    scores = [s for s in scores if s.mode == "continuous"]
    owners: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for s in scores:
        owners[s.patient][s.worker].append(s.seq)
    moved = {p for p, by in owners.items() if len(by) == 2}
    assert moved, "no patient changed owner"
    new_owner = {p: max(by, key=lambda w: min(by[w])) for p, by in owners.items() if p in moved}
    assert all(min(owners[p][w]) == 0 for p, w in new_owner.items())  # seq restarted at 0

    report = evaluate_run(records, scores, len(dead))
    firsts = _first_cuts(scores)
    exact = len(scores) - len({(s.patient, s.onset_sample) for s in scores})
    print(f"owner change: {len(moved)} patients moved, {report['duplicates']} duplicates, "
          f"{len(scores) - len(firsts) - exact} re-cut off the first onset; report {report}")
    assert dead == [] and report["duplicates"] > 0  # the new owner re-cut beats
    # A re-cut is no new detection: the report is the one of the first cuts alone. The
    # overlap rule above and the report's identity rule (onsets within 0.3 beat) disagree
    # only on a re-cut whose onset moved by more than 0.3 beat: by the identity rule that is
    # another segmentation of the signal, a detection of its own (one in 2,646 records in a
    # CI run); at most 1 % of the re-cuts may be such.
    alone = evaluate_run(records, firsts, 0)
    recut = len(scores) - len(firsts)
    off_identity = recut - report["duplicates"]
    assert 0 <= off_identity <= max(1, recut // 100), (recut, report["duplicates"])
    if off_identity == 0:
        assert report["segmentation_precision"] == alone["segmentation_precision"]
    assert report["segmentation_precision"] >= 0.99 and alone["segmentation_precision"] >= 0.99
    assert report["segmentation_recall"] == alone["segmentation_recall"] >= 0.98

    anomalies = sorted((s for s in scores if s.anomalous), key=lambda s: s.published_ms)
    tracker = AlertTracker(m=3, n=5, cooldown_s=1.0)
    alerts, stale = _outcomes(tracker, anomalies)
    # A stale record is fresh when no record reported its stretch of signal before: neither
    # the same beat (identity rule) nor a re-cut of it (its samples overlap an earlier
    # record's by more than half: the new owner's first beats after the frames it re-reads
    # may be cut off the old boundaries, 14 of 2,600 records in one CI run).
    seen = _seen_before(scores)
    first = {(s.patient, s.onset_sample, s.published_ms) for s in firsts}
    fresh_stale = [s for s in stale if (s.patient, s.onset_sample, s.published_ms) not in seen
                   and (s.patient, s.onset_sample, s.published_ms) in first]
    assert fresh_stale == [], "anomalies dropped as stale that no record had reported before"
    assert tracker.counters.restarts == 0
    for patient, worker in new_owner.items():
        start = min(s.onset_sample or 0 for s in scores
                    if s.patient == patient and s.worker == worker)
        assert any(a.patient == patient and a.raised_ms > killed_ms and a.last_seq > start
                   for a in alerts), f"no alert of {patient} from its new owner's beats"
    # The same anomalies without the re-cuts (the first record of each beat) give the same
    # alerts: the duplicates the crash made change nothing.
    order = {id(s): i for i, s in enumerate(anomalies)}
    clean = sorted((g[0] for g in beat_clusters(anomalies)), key=lambda s: order[id(s)])
    assert _outcomes(AlertTracker(m=3, n=5, cooldown_s=1.0), clean)[0] == alerts
