"""Two label-free adaptations side by side on the same beats of a recording, as a benchmark.

The recording (one lead; optionally ``--swap-beats`` normal beats after the report's start
replaced by another lead's, a known change of shape) goes through the worker's QRS segmenter
(0.25 s frames) and the shipped autoencoder. Each approach learns from the patient's first
``--learning-s`` seconds and judges the beats from ``--report-from`` on:

- ``model_score_baseline``: the autoencoder's reconstruction error against the patient's
  own robust baseline (median + K robust standard deviations of the learning beats' scores,
  the same K as the kept approach);
- ``patient_normal`` (kept; :mod:`stream.thresholds.normal`): the beat's shape on a time grid
  and its QRS size against the patient's template and their robust spread, judged in time
  order with the size median following the beats judged normal, as the worker does.

Reports, per approach and learning length, the reference beats (annotations within 150 ms)
flagged by class and the swapped beats flagged. Prints JSON. Example::

    .venv/bin/python -m tools.adaptation_compare --record ../shared/data/mitdb/100.hea \\
        --lead MLII --swap-lead V5
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np
from numpy.typing import NDArray

from producers.record_replay import RecordReplayOptions, prepare, swap_beats
from producers.records import BEAT_SYMBOLS, read_recording
from stream.runs.ec57 import MATCH_TOLERANCE_S
from stream.segmentation.qrs_segmenter import QrsSegmenter
from stream.segmentation.segmenter import Beat
from stream.thresholds.adaptation import PatientState, judge_batch
from stream.thresholds.normal import K_MAD, NORMAL_VERSION, Learner, log_size, time_grid


def _beats(samples: NDArray[np.float64], fs: float) -> list[Beat]:
    segmenter, frame, beats = QrsSegmenter(), round(0.25 * fs), []
    for seq, i in enumerate(range(0, samples.size, frame)):
        beats += segmenter.push(seq, i, fs, samples[i : i + frame]).beats
    return beats + segmenter.finish().beats


def _labels(fiducials: NDArray[np.int64], peaks: NDArray[np.int64], symbols: list[str],
            tolerance: int) -> list[str | None]:
    out: list[str | None] = []
    for f in fiducials:
        j = int(np.argmin(np.abs(peaks - f)))
        out.append(symbols[j] if abs(int(peaks[j]) - int(f)) <= tolerance else None)
    return out


def _tally(flags: NDArray[np.bool_], labels: list[str | None], swapped: NDArray[np.bool_],
           judged: NDArray[np.bool_]) -> dict[str, Any]:
    by: dict[str, list[int]] = {}
    for flag, label, swap, use in zip(flags, labels, swapped, judged, strict=True):
        if use and label is not None and not swap:
            row = by.setdefault(label, [0, 0])
            row[0] += 1
            row[1] += int(flag)
    return {"by_symbol": {s: {"beats": n, "flagged": k} for s, (n, k) in sorted(by.items())},
            "n_flagged_percent": round(100 * by.get("N", [1, 0])[1] / max(by.get("N", [1])[0], 1),
                                       3),
            "swapped": {"beats": int((swapped & judged).sum()),
                        "flagged": int((flags & swapped & judged).sum())}}


def run(record: str, lead: str, swap_lead: str | None, swap_count: int,
        learnings: list[float], report_from: float) -> dict[str, Any]:
    """Both approaches on the recording; the report."""
    from models.detector import load_detector  # local: torch loads only here

    opts = RecordReplayOptions()
    recording = prepare(read_recording(record, lead), opts)
    swapped_peaks: list[int] = []
    if swap_lead is not None:
        other = prepare(read_recording(record, swap_lead), opts)
        recording, swapped_peaks = swap_beats(recording, other, swap_count, report_from)
    fs = recording.fs
    beats = _beats(np.asarray(recording.samples, dtype=np.float64), fs)
    fiducials = np.array([b.fiducial_sample for b in beats], dtype=np.int64)
    times = fiducials / fs
    refs = [a for a in recording.annotations if a.symbol in BEAT_SYMBOLS]
    tolerance = round(MATCH_TOLERANCE_S * fs)
    labels = _labels(fiducials, np.array([a.sample for a in refs]), [a.symbol for a in refs],
                     tolerance)
    swapped = np.array([bool(swapped_peaks) and
                        int(np.min(np.abs(np.array(swapped_peaks) - f))) <= tolerance
                        for f in fiducials])
    x = np.stack([b.samples for b in beats])
    scores = load_detector().score(x).astype(np.float64)
    grids = time_grid(x, [b.length for b in beats], fs)
    sizes = log_size([b.amplitude for b in beats])
    judged = times >= report_from
    rows = []
    for learning in learnings:
        learn = times < learning
        median = float(np.median(scores[learn]))
        sd = 1.4826 * float(np.median(np.abs(scores[learn] - median)))
        model_flags = scores > median + K_MAD * sd
        learner = Learner()
        for i in np.flatnonzero(learn):
            learner.add(grids[i], float(sizes[i]))
        normal = learner.normal(NORMAL_VERSION)
        normal_flags = np.zeros(len(beats), dtype=bool)
        if normal is not None:  # judged as the worker judges, the size following
            after = np.flatnonzero(~learn)
            states = {"p": PatientState(0.0, None, normal)}
            results, _ = judge_batch(states, ["p"] * len(after), times[after].tolist(),
                                     grids[after], sizes[after], [False] * len(after),
                                     learning, NORMAL_VERSION)
            normal_flags[after] = [r.reason is not None for r in results]
        rows.append({"learning_s": learning, "learning_beats": int(learn.sum()),
                     "model_score_baseline": {"threshold": round(median + K_MAD * sd, 3),
                                              **_tally(model_flags, labels, swapped, judged)},
                     "patient_normal": {"kept_beats": normal.beats if normal else 0,
                                        "state_bytes": len(normal.to_bytes()) if normal else 0,
                                        "learning_bytes": len(learner.to_bytes()),
                                        **_tally(normal_flags, labels, swapped, judged)}})
    return {"record": record, "lead": lead, "swap_lead": swap_lead,
            "swapped_beats": len(swapped_peaks), "beats": len(beats), "k_mad": K_MAD,
            "report_from_s": report_from, "runs": rows}


def main(argv: list[str] | None = None) -> int:
    """Parse options, run, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--record", required=True)
    parser.add_argument("--lead", default="MLII")
    parser.add_argument("--swap-lead", default=None)
    parser.add_argument("--swap-beats", type=int, default=30)
    parser.add_argument("--learning-s", type=float, action="append", default=[])
    parser.add_argument("--report-from", type=float, default=300.0)
    args = parser.parse_args(argv)
    report = run(args.record, args.lead, args.swap_lead, args.swap_beats,
                 args.learning_s or [300.0, 120.0], args.report_from)
    json.dump(report, sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
