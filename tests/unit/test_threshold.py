"""Running statistics (Chan merge, EWMA) and the threshold policy."""

from __future__ import annotations

from dataclasses import astuple

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stream.settings import Settings
from stream.thresholds.policy import GLOBAL_STATS, RunningStats, ThresholdPolicy

finite = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)


def _ewma(values: list[float], alpha: float) -> float:
    """Textbook recursion with bias correction, as a reference."""
    s = w = 0.0
    for v in values:
        s = (1 - alpha) * s + alpha * v
        w = (1 - alpha) * w + alpha
    return s / w


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(finite, min_size=0, max_size=60),
    cuts=st.lists(st.integers(min_value=0, max_value=60), max_size=5),
    alpha=st.floats(min_value=0.01, max_value=1.0),
)
def test_chan_merge_equals_batch_statistics(values: list[float], cuts: list[int],
                                            alpha: float) -> None:
    bounds = sorted({0, len(values), *(c for c in cuts if c <= len(values))})
    merged = RunningStats()
    for lo, hi in zip(bounds, bounds[1:], strict=False):
        merged = merged.merge(RunningStats.from_values(values[lo:hi], alpha))
    whole = RunningStats.from_values(values, alpha)
    assert merged.count == len(values) == whole.count
    if values:
        x = np.asarray(values)
        scale = 1.0 + float(np.abs(x).max())
        assert merged.mean == pytest.approx(x.mean(), rel=1e-9, abs=1e-9 * scale)
        assert merged.variance == pytest.approx(x.var(), rel=1e-7, abs=1e-7 * scale**2)
        assert merged.ewma == pytest.approx(_ewma(values, alpha), rel=1e-9, abs=1e-9 * scale)
        assert merged.ewma_weight == pytest.approx(1 - (1 - alpha) ** len(values), rel=1e-9)


def test_empty_stats_and_identity_merge() -> None:
    empty = RunningStats()
    some = RunningStats.from_values([1.0, 2.0, 3.0])
    assert empty.variance == 0.0 and empty.std == 0.0
    assert empty.merge(some) == some and some.merge(empty) == some
    assert some.std == pytest.approx(np.std([1.0, 2.0, 3.0]))


def test_ewma_follows_recent_values() -> None:
    old = RunningStats.from_values(np.full(200, 1.0), alpha=0.1)
    new = old.merge(RunningStats.from_values(np.full(50, 3.0), alpha=0.1))
    assert new.mean == pytest.approx(1.4)
    assert new.ewma > 2.9


def _policy(**overrides: object) -> ThresholdPolicy:
    base = {"static_threshold": 1.0, "mode": "adaptive", "warmup_beats": 10, "k": 3.0}
    return ThresholdPolicy(**{**base, **overrides})  # type: ignore[arg-type]


NOISY = RunningStats.from_values(np.linspace(0.4, 1.2, 40))  # mean 0.8, std ~0.234
CALM = RunningStats.from_values(np.linspace(0.1, 0.2, 40))


@pytest.mark.parametrize(
    ("mode", "stats", "expected", "source"),
    [
        ("static", NOISY, 1.0, "static"),
        ("adaptive", None, 1.0, "static"),
        ("adaptive", RunningStats.from_values(np.linspace(0.4, 1.2, 9)), 1.0, "static"),  # warm-up
        ("adaptive", CALM, 1.0, "static"),  # never below the calibrated threshold
        ("adaptive", NOISY, 0.8 + 3.0 * NOISY.std, "patient"),
    ],
)
def test_patient_threshold(mode: str, stats: RunningStats | None, expected: float,
                           source: str) -> None:
    value, origin = _policy(mode=mode).patient_threshold(stats)
    assert value == pytest.approx(expected)
    assert origin == source


def test_warmup_boundary_is_inclusive() -> None:
    ten = RunningStats.from_values(np.linspace(0.4, 1.2, 10))
    assert _policy().patient_threshold(ten)[1] == "patient"
    assert _policy(warmup_beats=11).patient_threshold(ten)[1] == "static"


def test_max_factor_caps_patient_threshold() -> None:
    wild = RunningStats.from_values(np.linspace(0.0, 10.0, 40))
    assert _policy(max_factor=2.0).patient_threshold(wild) == (2.0, "patient")
    with pytest.raises(ValueError, match="max_factor"):
        _policy(max_factor=0.5)


def test_thresholds_and_decide_for_a_batch() -> None:
    policy = _policy()
    patients = ["noisy", "new", "noisy", "calm"]
    thresholds, sources = policy.thresholds(patients, {"noisy": NOISY, "calm": CALM})
    high = 0.8 + 3.0 * NOISY.std
    assert thresholds == pytest.approx([high, 1.0, high, 1.0])
    assert sources == ["patient", "static", "patient", "static"]
    decisions = policy.decide([1.1, 1.1, high + 0.01, 1.0], thresholds)
    assert decisions.tolist() == [False, True, True, False]  # strictly above


def test_degraded_mode_empty_stats_gives_static() -> None:
    thresholds, sources = _policy().thresholds(["a", "b"], {})
    assert thresholds.tolist() == [1.0, 1.0] and sources == ["static", "static"]


@pytest.mark.parametrize(
    ("update_on_anomaly", "expected_a", "expected_global"),
    [(False, [0.1, 0.3], [0.1, 0.2, 0.3]), (True, [0.1, 5.0, 0.3], [0.1, 5.0, 0.2, 0.3])],
)
def test_batch_updates_respect_anomaly_flag(update_on_anomaly: bool, expected_a: list[float],
                                            expected_global: list[float]) -> None:
    policy = _policy(update_on_anomaly=update_on_anomaly, ewma_alpha=0.2)
    patients = ["a", "a", "b", "a", "c"]
    scores = [0.1, 5.0, 0.2, 0.3, float("nan")]
    decisions = [False, True, False, False, False]
    updates = policy.batch_updates(patients, scores, decisions)
    assert set(updates) == {"a", "b", GLOBAL_STATS}  # NaN never enters the stats
    assert _same(updates["a"], RunningStats.from_values(expected_a, 0.2))
    assert _same(updates["b"], RunningStats.from_values([0.2], 0.2))
    assert updates[GLOBAL_STATS] == RunningStats.from_values(expected_global, 0.2)


def _same(a: RunningStats, b: RunningStats) -> bool:
    """Equal statistics up to rounding (sums taken in another order)."""
    return a.count == b.count and astuple(a) == pytest.approx(astuple(b), rel=1e-12, abs=1e-15)


def test_batch_updates_of_many_patients_are_each_patients_from_values() -> None:
    """The vectorized grouping gives every patient the statistics of its own beats."""
    rng = np.random.default_rng(3)
    patients = [f"p{i}" for i in rng.integers(0, 40, 500)]
    scores = rng.gamma(4.0, 10.0, 500)
    decisions = scores > 80.0
    updates = _policy(ewma_alpha=0.07).batch_updates(patients, scores, decisions)
    eligible = [p for p, d in zip(patients, decisions, strict=True) if not d]
    assert list(updates) == [*dict.fromkeys(eligible), GLOBAL_STATS]  # first arrival order
    for patient in dict.fromkeys(eligible):
        mine = [s for p, s, d in zip(patients, scores, decisions, strict=True)
                if p == patient and not d]  # arrival order: the EWMA's newest last
        assert _same(updates[patient], RunningStats.from_values(mine, 0.07)), patient


def test_batch_updates_empty_when_nothing_eligible() -> None:
    assert _policy().batch_updates(["a"], [9.0], [True]) == {}
    assert _policy().batch_updates([], [], []) == {}


def test_policy_from_settings() -> None:
    cfg = Settings(threshold_mode="static", warmup_beats=7, threshold_k=2.5,
                   stats_update_on_anomaly=True, ewma_alpha=0.3, threshold_max_factor=1.5)
    policy = ThresholdPolicy.from_settings(cfg, static_threshold=0.42)
    assert policy == ThresholdPolicy(0.42, "static", 7, 2.5, True, 0.3, 1.5)
    assert ThresholdPolicy.from_settings(Settings(), 1.0).max_factor == 1.25


def test_batch_sees_stats_before_the_batch() -> None:
    """Updates computed from a batch do not change that batch's thresholds."""
    policy = _policy(warmup_beats=3)
    patients = ["p"] * 5
    scores = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
    thresholds, sources = policy.thresholds(patients, {})
    assert sources == ["static"] * 5
    updates = policy.batch_updates(patients, scores, policy.decide(scores, thresholds))
    assert updates["p"].count == 5
