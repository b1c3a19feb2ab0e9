"""Choose the prematurity fraction of ``stream.segmentation.rhythm`` on synthetic signals.

Synthetic ECG (``tests/synthetic_ecg.py``) with sinus rhythm at 50-110 bpm, respiratory
heart-rate variability (a 0.25 Hz modulation of ``--hrv`` of the RR) plus random variability
(``--jitter``), and premature beats (every ``--every``-th beat on average) whose RR before is
0.60-0.85 of the sinus RR, followed by a compensatory pause. The signal goes through the QRS
segmenter (0.25 s frames); each beat's rhythm is judged with each candidate fraction. Reports,
per fraction, the premature beats flagged (sensitivity) and the sinus beats flagged (false
rate), and the chosen one: the largest sensitivity with at most ``--max-false`` of sinus beats
flagged (ties: the larger fraction). Prints JSON. Example::

    .venv/bin/python -m tools.prematurity --records 40 --seed 0
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from stream.segmentation.qrs_segmenter import QrsSegmenter
from stream.segmentation.rhythm import RhythmTracker
from tests.synthetic_ecg import synthesize

FRACTIONS = tuple(round(f, 2) for f in np.arange(0.80, 0.95, 0.01))


def _record(rng: np.random.Generator, beats: int, hrv: float, jitter: float,
            every: int) -> tuple[np.ndarray, np.ndarray]:
    """RR intervals (s) and which beats are premature (their RR before is short)."""
    sinus = 60.0 / rng.uniform(50, 110)
    t = np.arange(beats) * sinus
    rr = sinus * (1 + hrv * np.sin(2 * np.pi * 0.25 * t + rng.uniform(0, 6.3))
                  + rng.normal(0, jitter, beats))
    premature = np.zeros(beats, dtype=bool)
    k = 10
    while k < beats - 2:
        premature[k] = True
        early = rng.uniform(0.60, 0.85) * rr[k - 1]
        rr[k], rr[k + 1] = early, rr[k - 1] * 2 - early  # compensatory pause
        k += int(rng.integers(every // 2, every * 3 // 2 + 1))
    # rr[i] is the interval from beat i to i+1, so beat k+1 arrives early: shift the marks.
    return rr, np.concatenate([[False], premature[:-1]])


def run(records: int, seed: int, fs: float, hrv: float, jitter: float, every: int,
        max_false: float) -> dict[str, Any]:
    """Scan the fractions on ``records`` synthetic records; the table and the choice."""
    rng = np.random.default_rng(seed)
    flagged = {f: [0, 0] for f in FRACTIONS}  # premature flagged, sinus flagged
    totals = [0, 0]
    for _ in range(records):
        rr, early = _record(rng, 300, hrv, jitter, every)
        synthetic = synthesize(rr, fs, noise=0.02, wander=0.1, rng=rng)
        segmenter, frame, found = QrsSegmenter(), round(0.25 * fs), []
        for seq, i in enumerate(range(0, synthetic.signal.size, frame)):
            found += segmenter.push(seq, i, fs, synthetic.signal[i : i + frame]).beats
        trackers = {f: RhythmTracker(fraction=f) for f in FRACTIONS}
        for beat in found:
            peak = int(np.argmin(np.abs(synthetic.r_peaks - (beat.fiducial_sample or 0))))
            if abs(int(synthetic.r_peaks[peak]) - (beat.fiducial_sample or 0)) > 0.15 * fs:
                continue
            truth = bool(early[peak])
            judged = {f: t.observe(beat.onset_sample, beat.length) for f, t in trackers.items()}
            if judged[FRACTIONS[0]].premature is None:
                continue
            totals[0 if truth else 1] += 1
            for f, rhythm in judged.items():
                if rhythm.premature:
                    flagged[f][0 if truth else 1] += 1
    table = [{"fraction": f, "se": round(p / max(totals[0], 1), 4),
              "false_rate": round(s / max(totals[1], 1), 5)} for f, (p, s) in flagged.items()]
    allowed = [row for row in table if row["false_rate"] <= max_false]
    chosen = max(allowed, key=lambda r: (r["se"], r["fraction"]))["fraction"] if allowed else None
    return {"records": records, "seed": seed, "fs": fs, "hrv": hrv, "jitter": jitter,
            "premature_beats": totals[0], "sinus_beats": totals[1], "max_false": max_false,
            "table": table, "chosen": chosen}


def main(argv: list[str] | None = None) -> int:
    """Parse options, scan, print the JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fs", type=float, default=250.0)
    parser.add_argument("--hrv", type=float, default=0.05, help="respiratory RR modulation")
    parser.add_argument("--jitter", type=float, default=0.02, help="random RR variability")
    parser.add_argument("--every", type=int, default=20, help="beats between premature ones")
    parser.add_argument("--max-false", type=float, default=0.005)
    args = parser.parse_args(argv)
    json.dump(run(args.records, args.seed, args.fs, args.hrv, args.jitter, args.every,
                  args.max_false), sys.stdout, indent=1)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
