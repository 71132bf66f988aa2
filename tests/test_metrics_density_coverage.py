"""Density and coverage (Naeem et al. 2020, k = 5): against a NumPy brute force of the definitions,
the closed-form means for two samples of one law, robustness to real outliers, and bad arguments.

The blocked k-NN code they share with precision/recall is checked here too: any block size gives
the same ball counts as one block.
"""

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.evaluation.evaluate_run import knn_scores
from gan_jax.metrics import density_coverage as exported
from gan_jax.metrics.density_coverage import density_coverage, expected_coverage_same_law

# The package exports the function under the module's name: reach the module itself.
pr = importlib.import_module("gan_jax.metrics.precision_recall")

K = 5


def brute_force(real: np.ndarray, fake: np.ndarray, k: int):
    """The definitions in float64 with explicit loops' worth of NumPy: radii, ball counts, covered
    flags, density, coverage, and the smallest |distance - radius| (how far from a tie)."""
    d_rr = np.sqrt(((real[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    radii = np.array([np.sort(np.delete(row, i))[k - 1] for i, row in enumerate(d_rr)])  # itself left out
    d_fr = np.sqrt(((fake[:, None, :] - real[None, :, :]) ** 2).sum(-1))                 # (M, N)
    inside = d_fr <= radii[None, :]
    counts, covered = inside.sum(1), inside.any(0)
    density = inside.sum() / (k * len(fake))
    coverage = np.mean(d_fr.min(0) <= radii)        # the paper's form: nearest fake within the ball
    margin = np.abs(d_fr - radii[None, :]).min()
    return radii, counts, covered, density, coverage, margin


@pytest.mark.parametrize("n, m, d, k, seed, blocks", [(40, 30, 3, 5, 0, True), (40, 30, 3, 1, 1, False),
                                                      (40, 30, 3, 39, 2, False)])   # one shape: compiled once
def test_against_brute_force(n, m, d, k, seed, blocks):
    """Exact counts and flags; with ``blocks`` also in blocks of 7 rows (the last one shorter) and
    under jit (the block loop unrolled)."""
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n, d))
    fake = rng.normal(size=(m, d)) * 1.3 + 0.2
    radii, counts, covered, density, coverage, margin = brute_force(real, fake, k)
    assert margin > 1e-4   # no sample within float32 round-off of a boundary: exact agreement is well posed
    r32, f32 = jnp.asarray(real, jnp.float32), jnp.asarray(fake, jnp.float32)
    for block in (pr.MAX_BLOCK_ELEMENTS, 7 * n)[:2 if blocks else 1]:
        got_radii = pr.knn_radii(r32, k, block)
        np.testing.assert_allclose(got_radii, radii, rtol=1e-5, atol=1e-5)
        got_counts, got_covered = pr.ball_counts(r32, got_radii, f32, block)
        np.testing.assert_array_equal(got_counts, counts)
        np.testing.assert_array_equal(got_covered, covered)
        got_density, got_coverage = density_coverage(r32, f32, k, block)
        assert float(got_density) == pytest.approx(density, rel=1e-6)
        assert float(got_coverage) == pytest.approx(coverage, rel=1e-6)
    if blocks:
        jitted = jax.jit(density_coverage, static_argnames=("k", "max_block_elements"))
        got = jitted(r32, f32, k, max_block_elements=7 * n)
        assert [float(v) for v in got] == pytest.approx([density, coverage], rel=1e-6)
    assert exported is density_coverage


def test_the_real_sample_against_itself():
    """Y = X: every X_i lies in its own ball and in the balls of the points it is among the k
    nearest of, so the counts sum to N (k + 1): density (k + 1)/k, coverage 1."""
    x = jnp.asarray(np.random.default_rng(4).normal(size=(2000, 4)), jnp.float32)
    density, coverage = density_coverage(x, x)
    assert float(density) == pytest.approx((K + 1) / K, rel=1e-6) and float(coverage) == 1.0


@pytest.mark.parametrize("n, m", [(2000, 2000), (2000, 1000)])
def test_two_samples_of_one_law(n, m):
    """X (N) and Y (M) independent, each N(0, I_4). By exchangeability (derived in the paper):
    E[density] = 1 and E[coverage] = 1 - prod_{t<k} (N-1-t)/(N+M-1-t), which is 0.96887 for
    N = M = 2000 (1 - 2^-5 = 0.96875 in the limit) and 0.8686 for M = N/2.

    Tolerance, five standard errors: coverage is a mean of N indicators of rate p, binomial SE
    sqrt(p(1-p)/N) (0.0039 for N = M = 2000); density a mean of M counts of about Poisson(k)/k
    plus the spread of the real balls' masses, SE about sqrt(1/(kM) + 1/(kN)) (0.0141). The
    indicators are correlated (near reals share fakes): repeated draws (200 at N = M = 2000, 150
    at N = M = 3000 and at N = 3000, M = 1500) measured standard deviations 1.22-1.28x
    (coverage) and 0.88-1.06x (density) these formulas, so the band is about four measured
    standard deviations wide or more. A wrong k (coverage 0.875 at k = 3) or a wrong
    normalisation (density 5 without the 1/k) is far outside it.
    """
    rng = np.random.default_rng(5 + m)
    real = jnp.asarray(rng.normal(size=(n, 4)), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(m, 4)), jnp.float32)
    density, coverage = density_coverage(real, fake)
    p = expected_coverage_same_law(n, m)
    assert float(coverage) == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / n))
    assert float(density) == pytest.approx(1.0, abs=5 * np.sqrt(1 / (K * m) + 1 / (K * n)))


def test_expected_coverage_closed_form():
    """Its limit 1 - 2^-k for M = N, and a hand count: N = 3, M = 1, k = 1 -> 1 - 2/3."""
    assert expected_coverage_same_law(10**7, 10**7) == pytest.approx(1 - 2.0**-K, abs=1e-6)
    assert expected_coverage_same_law(3, 1, 1) == pytest.approx(1 / 3)
    assert expected_coverage_same_law(3000, 3000) == pytest.approx(0.96883, abs=5e-6)


def test_real_outliers_raise_precision_not_density():
    """Real bulk N(0, I_4) (2,000), generated N(8 e_1, I_4) (1,000): disjoint, so precision and
    density are both near 0. Two far real outliers at +-20 e_1: the one beyond the generated
    cluster has a k-NN radius of about 17 (back to the bulk), so its ball holds the whole cluster
    and the project's precision jumps to about 1. Density counts that ball once per sample and
    divides by k: it can rise by at most 1/k = 0.2 per outlier whose ball holds samples, and does
    so here; the outlier at -20 e_1 holds none. Coverage moves by at most 2/(N + 2): each outlier
    is one more real sample, covered or not.
    """
    rng = np.random.default_rng(6)
    bulk = rng.normal(size=(2000, 4))
    fake = jnp.asarray(rng.normal(size=(1000, 4)) + 8.0 * np.eye(4)[0], jnp.float32)  # shapes shared above
    with_outliers = jnp.asarray(np.concatenate([bulk, [20.0 * np.eye(4)[0], -20.0 * np.eye(4)[0]]]), jnp.float32)
    bulk = jnp.asarray(bulk, jnp.float32)
    precision_before = pr.manifold_coverage(bulk, fake, 3)          # precision_recall's precision
    precision_after = pr.manifold_coverage(with_outliers, fake, 3)
    density_before, coverage_before = density_coverage(bulk, fake)
    density_after, coverage_after = density_coverage(with_outliers, fake)
    assert float(precision_before) < 0.05 and float(precision_after) > 0.95
    assert float(density_before) < 0.05 and float(density_after) <= float(density_before) + 1 / K + 1e-6
    n = bulk.shape[0]
    assert float(coverage_before) < 0.05
    assert float(coverage_after) <= (float(coverage_before) * n + 2) / (n + 2) + 1e-6


@pytest.mark.parametrize("real_shape, fake_shape, k, message", [
    ((10, 3), (4, 3), 0, "1 <= k < samples"),
    ((10, 3), (4, 3), 10, "1 <= k < samples"),
    ((5, 3), (4, 3), 5, "k = 5 with 5 samples"),
    ((10,), (4, 3), 5, "(samples, features)"),
    ((10, 3), (4, 2), 5, "2 features per sample where 3 are expected"),
    ((10, 3), (0, 3), 5, "non-empty"),
    ((10, 3), (2, 3, 1), 5, "(samples, features)"),
])
def test_bad_shapes_and_k_are_value_errors(real_shape, fake_shape, k, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        density_coverage(np.zeros(real_shape, np.float32), np.zeros(fake_shape, np.float32), k)


def test_other_bad_arguments():
    x = np.zeros((10, 3), np.float32)
    with pytest.raises(ValueError, match="one per centre"):
        pr.ball_counts(x, np.zeros(9, np.float32), x)
    with pytest.raises(ValueError, match="max_block_elements"):
        pr.knn_radii(x, 3, 0)
    with pytest.raises(ValueError, match="n_real"):
        expected_coverage_same_law(5, 5, 5)


def test_eval_reports_none_for_sets_too_small_for_k():
    """``gan-jax eval`` always holds far more samples; a tiny data set or -n gives None, not an error."""
    rng = np.random.default_rng(7)
    real, fake = rng.normal(size=(5, 3)).astype(np.float32), rng.normal(size=(3, 3)).astype(np.float32)
    scores = knn_scores(real, fake)   # recall needs 4 generated (k = 3), density and coverage 6 real (k = 5)
    assert scores == {"precision": scores["precision"], "recall": None, "density": None, "coverage": None}
    assert 0.0 <= scores["precision"] <= 1.0
