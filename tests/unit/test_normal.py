"""A patient's learned normal: time grid, learning buffer, template and threshold, adaptation."""

from __future__ import annotations

import numpy as np
import pytest

from models.preprocess import resample_beat, znormalize
from stream.thresholds.adaptation import PatientState, judge_batch
from stream.thresholds.normal import (
    KEEP,
    MIN_BEATS,
    NORMAL_VERSION,
    SIZE_STEP,
    Learner,
    PatientNormal,
    log_size,
    time_grid,
)

FS = 360.0


def beat(length: int, shape: float = 0.0, rng: np.random.Generator | None = None) -> np.ndarray:
    """A raw beat of ``length`` samples: a QRS at 21 ms, a T wave at 300 ms (``shape`` widens
    the QRS), noise; resampled and normalized as the segmenters do."""
    t = np.arange(length) / FS
    x = (np.exp(-0.5 * ((t - 0.021) / (0.012 + shape)) ** 2)
         + 0.3 * np.exp(-0.5 * ((t - 0.30) / 0.05) ** 2))
    if rng is not None:
        x = x + rng.normal(0, 0.01, length)
    return znormalize(resample_beat(x, 140))


def test_the_grid_puts_a_beat_back_in_time_whatever_its_length() -> None:
    short, long = beat(250), beat(400)  # the same waves, RR 694 ms and 1.1 s
    grids = time_grid(np.stack([short, long]), [250, 400], FS)
    assert grids.shape == (2, 90)
    # The QRS peak (21 ms) lands on grid point 5 (20 ms) or the next in both, and the two
    # grids are much closer than the two 140-sample beats are.
    assert {int(np.argmax(g)) for g in grids} <= {5, 6}
    assert np.abs(grids[0] - grids[1]).mean() < 0.6 * np.abs(short - long).mean()


def test_learner_keeps_at_most_keep_beats_spread_over_the_period() -> None:
    learner = Learner()
    for i in range(1000):
        learner.add(np.full(90, i, dtype=np.float32), 0.5)
    kept = [int(g[0]) for g in learner.grids]
    assert all(g.size == 91 and g[-1] == np.float16(0.5) for g in learner.grids)
    assert len(kept) <= KEEP and kept[0] == 0 and kept[-1] >= 1000 - 2 * learner.stride
    assert len(set(np.diff(kept))) == 1  # evenly spaced
    again = Learner.from_bytes(learner.to_bytes())
    assert again.seen == 1000 and again.stride == learner.stride
    assert all(np.array_equal(a, b) for a, b in zip(again.grids, learner.grids, strict=True))
    with pytest.raises(ValueError, match="not a learning buffer"):
        Learner.from_bytes(b"junk")


def test_a_normal_needs_min_beats_and_is_robust_to_a_minority_of_ectopic_beats() -> None:
    rng = np.random.default_rng(0)
    lengths = [int(n) for n in rng.integers(280, 320, 60)] + [300] * 6
    normal_beats = [beat(n, rng=rng) for n in lengths[:60]]
    ectopic = [beat(300, shape=0.03, rng=rng) for _ in range(6)]  # wide QRS, 9 %
    learner = Learner()
    for i, b in enumerate(normal_beats[:MIN_BEATS - 1]):
        learner.add(time_grid(b, [300], FS)[0], 0.0)
        assert learner.normal(NORMAL_VERSION) is None, i
    everything = normal_beats + ectopic
    grids = time_grid(np.stack(everything), lengths, FS)
    sizes = log_size(list(rng.normal(1.5, 0.05, len(everything))))
    learned = PatientNormal.learn(grids, sizes, NORMAL_VERSION)
    fresh = time_grid(np.stack([beat(300, rng=rng) for _ in range(50)]), [300] * 50, FS)
    usual = log_size(list(rng.normal(1.5, 0.05, 50)))
    wide = time_grid(np.stack([beat(300, shape=0.03, rng=rng) for _ in range(20)]), [300] * 20, FS)
    assert learned.judge(fresh, usual)[1].mean() <= 0.02
    assert learned.judge(wide, usual[:20])[1].all()
    # The same shape at two thirds of the size (another lead, an electrode moved) is far too;
    # an unknown size judges the shape alone.
    assert learned.judge(fresh, usual - np.log(1.5))[1].all()
    assert not learned.judge(fresh[:5], log_size([None] * 5))[1].any()
    again = PatientNormal.from_bytes(learned.to_bytes())
    assert again.version == NORMAL_VERSION and again.beats == 66
    np.testing.assert_array_equal(again.template, learned.template)
    assert len(learned.to_bytes()) < 512


def test_learning_period_then_judged_on_the_patients_normal() -> None:
    rng = np.random.default_rng(1)
    states: dict[str, PatientState] = {}
    grids = time_grid(np.stack([beat(300, rng=rng) for _ in range(400)]), [300] * 400, FS)
    times = [i * 300 / FS for i in range(400)]  # 0.83 s apart: learning ends near beat 144
    premature = [None] * 10 + [False] * 389 + [True]
    sizes = log_size([1.0] * 400)
    judged, changed = judge_batch(states, ["p"] * 400, times, grids, sizes, premature, 120.0,
                                  NORMAL_VERSION)
    learning = [j.learning for j in judged]
    first = learning.index(False)
    assert times[first] >= 120.0 > times[first - 1] and not any(learning[first:])
    assert not any(j.anomalous for j in judged[:first])  # no alert from the learning period
    assert changed == {"p"} and states["p"].normal is not None and states["p"].learner is None
    assert judged[-1].anomalous and judged[-1].reason == "rhythm"
    wide = time_grid(beat(300, shape=0.03), [300], FS)
    again, changed = judge_batch(states, ["p", "p"], [400.0, 401.0], np.concatenate([wide, wide]),
                                 sizes[:2], [False, True], 120.0, NORMAL_VERSION)
    assert [j.reason for j in again] == ["morphology", "both"] and changed == set()
    # A normal of another version is relearned.
    relearn, changed = judge_batch(states, ["p"], [500.0], wide, sizes[:1], [False], 120.0,
                                   "other")
    assert relearn[0].learning and changed == {"p"}


def test_shape_and_size_count_together_and_the_size_follows_a_slow_drift() -> None:
    rng = np.random.default_rng(2)
    grids = time_grid(np.stack([beat(300, rng=rng) for _ in range(100)]), [300] * 100, FS)
    sizes = rng.normal(0.4, 0.04, 100)
    learned = PatientNormal.learn(grids, sizes, NORMAL_VERSION)
    template = learned.template[None, :]
    # 4.5 robust SDs off in size alone is within K_MAD; with the shape 4.5 off too it is not.
    size = learned.size_median - 4.5 * learned.size_sd
    assert not learned.judge(template, np.array([size]))[1][0]
    far_shape = None
    for scale in np.linspace(0.0, 3.0, 301):  # a shape 4.5 robust SDs from the median
        candidate = learned.template + scale * rng.normal(0.0, 0.05, learned.template.size)
        d, _ = learned.judge(candidate[None, :], np.array([learned.size_median]))
        if d[0] >= 4.5:
            far_shape = candidate
            break
    assert far_shape is not None
    distance, far = learned.judge(far_shape[None, :], np.array([size]))
    assert far[0] and distance[0] == pytest.approx(np.hypot(4.5, 4.5), abs=0.3)
    # The size median follows beats judged normal by SIZE_STEP robust SDs each.
    moved = learned
    for _ in range(100):
        moved = moved.follow_size(learned.size_median + 3 * learned.size_sd)
    assert moved.size_median == pytest.approx(
        learned.size_median + 100 * SIZE_STEP * learned.size_sd, rel=1e-6)
    assert moved.template is learned.template and moved.size_sd == learned.size_sd
    assert learned.follow_size(float("nan")) is learned
