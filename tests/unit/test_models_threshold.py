import numpy as np
import pytest

from models.calibrate import QuantileRule, calibrate, decide


@pytest.mark.parametrize(
    ("quantile", "margin", "expected"),
    [(0.5, 1.0, 50.5), (0.98, 2.0, 2 * np.quantile(np.arange(1, 101), 0.98))],
)
def test_calibrate_quantile_rule(quantile, margin, expected):
    scores = np.arange(1, 101, dtype=np.float32)
    assert calibrate(scores, QuantileRule(quantile, margin)) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("n", "expected"), [(1000, 0.995), (300, 0.995), (59, 1 - 1.5 / 59), (2, 0.5)]
)
def test_quantile_is_capped_for_small_validation_sets(n, expected):
    assert QuantileRule(0.995).effective_quantile(n) == pytest.approx(expected)


def test_one_outlier_does_not_set_the_threshold():
    scores = np.r_[np.linspace(10, 20, 58), 500.0]
    assert calibrate(scores, QuantileRule(0.995)) < 30


@pytest.mark.parametrize("bad", [np.array([]), np.array([1.0, np.nan]), np.ones((2, 2))])
def test_calibrate_rejects_bad_scores(bad):
    with pytest.raises(ValueError, match="validation scores"):
        calibrate(bad, QuantileRule())


@pytest.mark.parametrize(("quantile", "margin"), [(0.0, 1.0), (1.5, 1.0), (0.9, 0.0)])
def test_rule_rejects_bad_parameters(quantile, margin):
    with pytest.raises(ValueError):
        QuantileRule(quantile, margin)


def test_decide_is_strictly_above():
    np.testing.assert_array_equal(decide(np.array([1.0, 2.0, 3.0]), 2.0), [False, False, True])


def test_rule_description_is_plain_data():
    text = QuantileRule().describe()
    assert text["name"] == "validation_quantile" and text["quantile"] == 0.995


def test_robust_rule_is_a_log_median_plus_k_robust_sds_and_ignores_the_tail() -> None:
    from models.calibrate import RobustRule

    rng = np.random.default_rng(0)
    scores = np.exp(rng.normal(np.log(12.0), 0.2, 2000))
    threshold = calibrate(scores, RobustRule(6.0))
    assert threshold == pytest.approx(12.0 * np.exp(6 * 0.2), rel=0.05)
    # A tail of a few outlying normals moves a quantile, not the median and the MAD.
    tailed = np.r_[scores, np.full(20, 500.0)]
    assert calibrate(tailed, RobustRule(6.0)) == pytest.approx(threshold, rel=0.02)
    assert calibrate(tailed, QuantileRule(0.995)) > 2 * calibrate(scores, QuantileRule(0.995))
    assert RobustRule().describe()["name"] == "validation_robust_log"
    with pytest.raises(ValueError, match="k > 0"):
        RobustRule(0.0)
