"""Disordered random frame streams never make the segmenter raise (seeds that once did)."""

from __future__ import annotations

import random

import numpy as np
import pytest
from scipy import signal as sps

from producers.stitch import stitch
from stream.segmentation import PatientSegmenter, SegmenterConfig
from stream.segmentation.fiducial import load_fiducial

FIDUCIAL = load_fiducial()


def _signal(beats: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    template = np.asarray(FIDUCIAL.template)
    tail = 0.3 * np.sin(np.linspace(0, np.pi, 140 - template.size))
    rows = np.stack([np.concatenate([5 * template, tail]) + 0.01 * rng.standard_normal(140)
                     for _ in range(beats)])
    return stitch(rows.astype(np.float32), rng, (125, 155)).signal


def _operations(seed: int) -> tuple[list[tuple], dict[str, int]]:
    """Frames of a stitched signal, dropped, duplicated, shuffled, shifted, interleaved with
    finish() calls, NaNs, rate changes and far-future bursts."""
    r = random.Random(seed)
    fs = r.choice([140.0, 140.0, 360.0, 500.0, 1000.0])
    sig = _signal(r.randint(3, 14), seed)
    if fs != 140.0:
        sig = sps.resample(sig, round(sig.size * fs / 140))
    size = r.choice([16, 64, 100, 257])
    frames = [(i, s, sig[s:s + size]) for i, s in enumerate(range(0, sig.size, size))]
    k = r.choice([0.0, 0.1, 1.0])
    msgs = []
    for frame in frames:
        x = r.random()
        if x < 0.05 * k:
            continue
        msgs.append(frame)
        if x < 0.1 * k:
            msgs.append(frame)
    for _ in range(r.randint(0, int(len(msgs) // 3 * k))):
        i = r.randrange(len(msgs))
        j = min(len(msgs) - 1, i + r.randint(1, 12))
        msgs[i], msgs[j] = msgs[j], msgs[i]
    ops: list[tuple] = []
    for seq, start, values in msgs:
        y = r.random()
        if y < 0.03 * k:
            seq += r.randint(60, 200)
        elif y < 0.05 * k:
            start += r.randint(-50, 50)
        elif y < 0.06 * k:
            ops.append(("finish",))
        elif y < 0.065 * k:
            values = values.copy()
            values[0] = np.nan
        rate = fs if r.random() > 0.02 * k else r.choice([250.0, 50.0, fs])
        ops.append(("push", seq, start, rate, values))
        if r.random() < 0.02 * k:
            ops += [("push", seq + 500 + n, start + 10_000 + n * size, fs, values)
                    for n in range(10)]
            k = 9.0  # after a burst, the stream stays heavily disordered
    ops.append(("finish",))
    config = {"max_buffer_samples": r.choice([8192, 300, 150]),
              "reorder_window": r.choice([8, 2, 4])}
    return ops, config


@pytest.mark.parametrize("seed", [1029, 1054, *range(0, 40)])
def test_disordered_stream_never_raises(seed: int) -> None:
    ops, config = _operations(seed)
    segmenter = PatientSegmenter(SegmenterConfig(**config), FIDUCIAL)
    for op in ops:
        result = segmenter.push(*op[1:]) if op[0] == "push" else segmenter.finish()
        assert all(beat.length > 0 for beat in result.beats)
