"""CPU per beat of the online QRS detector and of detection plus cutting, as a benchmark.

Runs :class:`~stream.segmentation.qrs.QrsDetector` alone and the worker's
:class:`~stream.segmentation.qrs_segmenter.QrsSegmenter` (frame order, detector, cutting,
resampling to 140, normalization) on one lead of a recording, in frames of ``--frame-seconds``,
at the record's rate or the ``--fs`` given (polyphase resampling first, not timed). Reports
the least process CPU time per beat over ``--repeat`` runs (the machine's noise only adds),
as JSON. Example::

    .venv/bin/python -m tools.segment_cost --record ../shared/data/mitdb/100.hea --lead MLII \\
        --fs 125 --fs 360 --fs 1000
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy import signal

from producers.records import read_recording
from stream.segmentation.qrs import QrsDetector
from stream.segmentation.qrs_segmenter import QrsSegmenter


def _detector(x: NDArray[np.float64], fs: float, frame: int) -> int:
    detector, found = QrsDetector(fs), 0
    for i in range(0, x.size, frame):
        found += len(detector.push(x[i : i + frame]))
    return found + len(detector.finish())


def _segmenter(x: NDArray[np.float64], fs: float, frame: int) -> int:
    segmenter, beats = QrsSegmenter(), 0
    for seq, i in enumerate(range(0, x.size, frame)):
        beats += len(segmenter.push(seq, i, fs, x[i : i + frame]).beats)
    return beats + len(segmenter.finish().beats)


def _best(fn: Callable[[NDArray[np.float64], float, int], int], x: NDArray[np.float64],
          fs: float, frame: int, repeat: int) -> tuple[int, float]:
    """Beats found and the least CPU seconds of ``repeat`` runs."""
    best, count = float("inf"), 0
    for _ in range(repeat):
        cpu = time.process_time()
        count = fn(x, fs, frame)
        best = min(best, time.process_time() - cpu)
    return count, best


def measure(record: str, lead: str | None, rates: list[float], frame_s: float,
            repeat: int) -> dict[str, Any]:
    """The costs at each rate: beats, CPU ms per beat of the detector and of the segmenter."""
    recording = read_recording(record, lead=lead)
    raw = np.asarray(recording.samples, dtype=np.float64)
    rows = []
    for fs in rates or [recording.fs]:
        x = raw if fs == recording.fs else signal.resample_poly(raw, round(fs),
                                                                round(recording.fs))
        frame = max(1, round(frame_s * fs))
        row: dict[str, Any] = {"fs": fs, "frame_samples": frame,
                               "signal_s": round(x.size / fs, 1)}
        for name, fn in (("detector", _detector), ("detection_and_cutting", _segmenter)):
            beats, cpu = _best(fn, x, fs, frame, repeat)
            row[name] = {"beats": beats, "cpu_s": round(cpu, 4),
                         "cpu_ms_per_beat": round(1000 * cpu / max(beats, 1), 4)}
        rows.append(row)
    return {"record": record, "lead": recording.lead, "units": recording.units,
            "frame_s": frame_s, "repeat": repeat, "rates": rows}


def main(argv: list[str] | None = None) -> int:
    """Parse options, measure, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--record", required=True, help="a WFDB .hea, EDF or CSV file")
    parser.add_argument("--lead", default=None, help="lead name or 0-based index")
    parser.add_argument("--fs", type=float, action="append", default=[],
                        help="rate to resample to first (repeatable; default: the record's)")
    parser.add_argument("--frame-seconds", type=float, default=0.25)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    report = measure(args.record, args.lead, args.fs, args.frame_seconds, max(1, args.repeat))
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
