"""The study's statistics: the rates' formulas, the bootstrap's resampling law, and coverage."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from gan_jax.study.stats import (
    SINGLE_CONTRIBUTIONS,
    TWO_AFC_CONTRIBUTIONS,
    bootstrap_totals,
    contributions,
    expanded_interval,
    interval_coverage,
    percentile_interval,
    rates,
    share_greater,
    simulate_single_studies,
    student_t_cdf,
    student_t_quantile,
    widening_factor,
)


def test_rates_from_cells():
    # 3 of 10 generated images called real, 1 of 5 real images called generated.
    r = rates(np.array([3, 7, 1, 4]))
    assert r["error_generated"] == pytest.approx(0.3)
    assert r["error_real"] == pytest.approx(0.2)
    assert r["error"] == pytest.approx(4 / 15)
    assert r["real_answer_rate"] == pytest.approx((3 + 4) / 15)


def test_two_afc_error_is_shared_by_both_images():
    # 2afc: 4 errors in 10 trials; each trial judges one generated and one real image.
    cells = np.array([4, 6]) @ TWO_AFC_CONTRIBUTIONS
    r = rates(cells)
    assert r["error_generated"] == r["error_real"] == r["error"] == pytest.approx(0.4)
    assert r["real_answer_rate"] == pytest.approx(0.5)
    assert contributions("single") is SINGLE_CONTRIBUTIONS


def test_rater_resampling_draws_whole_raters():
    counts = np.array([[1, 9], [5, 5], [9, 1]])
    totals = bootstrap_totals(counts, 4000, np.random.default_rng(0))
    assert totals.shape == (4000, 2)
    assert np.all(totals.sum(-1) == 30)  # three raters of 10 trials each
    # The error total is a sum of 3 draws from {1, 5, 9}: mean 15, variance 3 * 32 / 3 = 32.
    assert totals[:, 0].mean() == pytest.approx(15.0, abs=4 * np.sqrt(32 / 4000))
    assert totals[:, 0].var() == pytest.approx(32.0, rel=0.1)
    assert set(np.unique(totals[:, 0])) <= {3, 7, 11, 15, 19, 23, 27}


def test_trial_resampling_is_multinomial_within_a_rater():
    # One rater, 40 trials of types with shares (0.1, 0.2, 0.3, 0.4): resampling the trials
    # gives Multinomial(40, shares): mean 40 p, variance 40 p (1 - p), covariance -40 p_i p_j.
    counts = np.array([[4, 8, 12, 16]])
    draws = bootstrap_totals(counts, 20000, np.random.default_rng(1), resample_trials=True)
    p = np.array([0.1, 0.2, 0.3, 0.4])
    assert np.all(draws.sum(-1) == 40)
    np.testing.assert_allclose(draws.mean(0), 40 * p, atol=0.1)
    np.testing.assert_allclose(np.cov(draws.T), 40 * (np.diag(p) - np.outer(p, p)), atol=0.25)


@pytest.mark.parametrize("dof", [1, 2, 3, 5, 9, 19, 39, 200])
@pytest.mark.parametrize("probability", [0.95, 0.975, 0.995])
def test_student_t_quantile_matches_scipy(dof, probability):
    assert student_t_cdf(1.7, dof) == pytest.approx(scipy_stats.t.cdf(1.7, dof), abs=1e-9)
    assert student_t_quantile(probability, dof) == pytest.approx(scipy_stats.t.ppf(probability, dof), rel=1e-6)
    assert widening_factor(dof + 1, 2 * probability - 1) == pytest.approx(
        np.sqrt((dof + 1) / dof) * scipy_stats.t.ppf(probability, dof) / scipy_stats.norm.ppf(probability), rel=1e-6)


def test_intervals_and_shares():
    samples = np.arange(1001) / 1000.0
    np.testing.assert_allclose(percentile_interval(samples), [0.025, 0.975])
    # Widened about the estimate by f = sqrt(5 / 4) t_4 / z = 1.118 * 2.776 / 1.960, then clipped to [0, 1].
    factor = np.sqrt(1.25) * scipy_stats.t.ppf(0.975, 4) / scipy_stats.norm.ppf(0.975)
    np.testing.assert_allclose(expanded_interval(0.1 * samples + 0.4, 0.45, 5),
                               0.45 + factor * np.array([-0.0475, 0.0475]), rtol=1e-3)
    np.testing.assert_allclose(expanded_interval(samples, 0.9, 2), [0.0, 1.0])
    assert share_greater(np.array([1, 2, 3, 4]), np.array([0, 2, 4, 0])) == 0.5


def test_rater_bootstrap_covers_the_truth_95_percent_of_the_time():
    # 400 simulated studies of 40 raters (the full 1,000-study check is experiments/study_coverage.py).
    # With true coverage 0.95 the observed share has sd sqrt(0.95 * 0.05 / 400) = 0.011;
    # the test accepts 3 sd: [0.917, 0.983].
    # Single mode, rater r errs with p_gen,r ~ Beta (mean 0.3) on 25 generated and p_real,r ~ Beta
    # (mean 0.15) on 25 real images; the truth is the population mean.
    rng = np.random.default_rng(0)
    counts = simulate_single_studies(rng, 400, 40, 25, 25, 0.3, 0.15, concentration=5.0)
    covered = interval_coverage(counts, {"error_generated": 0.3, "error_real": 0.15, "error": 0.225}, 1000, rng)
    for name, share in covered.items():
        assert abs(share - 0.95) <= 3 * np.sqrt(0.95 * 0.05 / 400), (name, share)


def test_bootstrap_variances_match_their_closed_forms():
    # R raters of n trials with observed error rates q_r. Resampling raters, the pooled rate is
    # the mean of R draws of q: variance v_raters = var_pop(q) / R. Resampling trials too adds
    # each drawn rater's binomial noise q (1 - q) / n: v_two_level = v_raters + mean(q (1 - q)) / (n R).
    # When raters are alike, var_pop(q) is itself about p (1 - p) / n, so the second level counts
    # the trial noise twice (hence the report resamples raters only).
    rng = np.random.default_rng(2)
    n_raters, n = 40, 25
    errors = rng.binomial(n, 0.3, size=n_raters)
    counts = np.stack([errors, n - errors], -1)
    q = errors / n
    v_raters = q.var() / n_raters
    v_two_level = v_raters + np.mean(q * (1 - q)) / (n * n_raters)
    for resample_trials, expected in ((False, v_raters), (True, v_two_level)):
        totals = bootstrap_totals(counts, 8000, rng, resample_trials)
        assert np.var(totals[:, 0] / totals.sum(-1)) == pytest.approx(expected, rel=0.08)
