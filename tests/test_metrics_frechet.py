"""Fréchet distance and streaming statistics against scipy/numpy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from gan_jax.evaluation.stats_files import load_stats, save_stats
from gan_jax.metrics import frechet
from gan_jax.metrics.frechet import frechet_distance, frechet_distance_f64
from gan_jax.metrics.stats import (
    check_comparable,
    covariance,
    empty_stats,
    stats_from_features,
    update_stats,
)


def scipy_fid(mu1, s1, mu2, s2):
    """The reference formula of pytorch-fid/TTUR with scipy.linalg.sqrtm of S1 S2."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_gaussians(d, n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3
    cov = lambda z: np.atleast_2d(np.cov(z, rowvar=False))  # noqa: E731
    return a.mean(0), cov(a), b.mean(0) + 0.5, cov(b)


def sample_statistics(n, d, seed, scale=1.0):
    """Mean ``(d,)``, covariance ``(d, d)`` and centred samples ``(n, d)`` of n normal draws."""
    x = np.random.default_rng(seed).normal(size=(n, d)) * scale + 0.1 * seed
    centred = x - x.mean(0)
    return x.mean(0), centred.T @ centred / (n - 1), centred


def exact_from_samples(a, b):
    """d^2 from the samples themselves: with S1 = X^T X / (n1-1), S2 = Y^T Y / (n2-1)
    (X, Y centred), the non-zero eigenvalues of S1 S2 are the squared singular
    values of X Y^T / sqrt((n1-1)(n2-1)), a small n1 x n2 matrix, so
    Tr (S1 S2)^{1/2} is their sum: exact at any rank."""
    (mu1, s1, x), (mu2, s2, y) = a, b
    cross = x @ y.T / np.sqrt((len(x) - 1) * (len(y) - 1))
    trace_sqrt = np.linalg.svd(cross, compute_uv=False).sum()
    return ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt


# Few shapes: each (d, dtype) compiles the distance once.
@pytest.mark.parametrize("d", [5, 64])
def test_float64_matches_scipy_sqrtm_on_well_conditioned_statistics(d):
    args = random_gaussians(d, 20 * d + 10, seed=d)
    np.testing.assert_allclose(frechet_distance(*args), scipy_fid(*args), rtol=1e-9)
    np.testing.assert_allclose(frechet_distance_f64(*args), scipy_fid(*args), rtol=1e-9)


@pytest.mark.parametrize("n1,n2,d", [(10, 10, 64), (30, 20, 64), (30, 200, 64), (400, 300, 64),
                                     (400, 500, 300)],
                         ids=["both-singular", "both-singular-unequal", "first-singular", "full-rank",
                              "full-rank-tridiagonal-route"])
def test_float64_matches_the_exact_value_at_any_rank(n1, n2, d):
    """Fewer samples than dimensions make S1, S2 or both singular; the exact
    reduced-rank value comes from the samples (scipy's sqrtm is about 1e-8 off here).
    d = 300 takes the CPU's tridiagonal-and-bisection route (d = 64, the symmetric eigensolver)."""
    assert (d >= frechet._TRIDIAGONAL_MIN_DIM) == (d == 300)
    a, b = sample_statistics(n1, d, seed=1), sample_statistics(n2, d, seed=2, scale=1.3)
    exact = exact_from_samples(a, b)
    np.testing.assert_allclose(frechet_distance(a[0], a[1], b[0], b[1]), exact, rtol=1e-7)
    np.testing.assert_allclose(frechet_distance(b[0], b[1], a[0], a[1]), exact, rtol=1e-7)


def test_dtype_policy_numpy_in_float64_jax_arrays_in_their_dtype():
    """NumPy statistics, float64 or float32, are computed in float64 (the global
    x64 switch untouched); float32 JAX arrays in float32, whose error at d = 64
    from 30 samples is far above float64's."""
    a, b = sample_statistics(30, 64, seed=3), sample_statistics(30, 64, seed=4, scale=1.2)
    stats = (a[0], a[1], b[0], b[1])
    exact = exact_from_samples(a, b)
    x64_before = jax.config.jax_enable_x64
    in_float64 = frechet_distance(*stats)
    assert type(in_float64) is np.float64 and jax.config.jax_enable_x64 == x64_before
    np.testing.assert_allclose(in_float64, exact, rtol=1e-9)
    stats32 = [np.asarray(s, np.float32) for s in stats]
    from_float32_numpy = frechet_distance(*stats32)
    assert type(from_float32_numpy) is np.float64
    np.testing.assert_allclose(from_float32_numpy, frechet_distance(*(s.astype(np.float64) for s in stats32)),
                               rtol=1e-12)
    jax_args = [jnp.asarray(s) for s in stats32]
    in_float32 = frechet_distance(*jax_args)
    assert in_float32.dtype == jnp.float32
    error = abs(float(in_float32) - exact) / exact
    assert 1e-7 < error < 1e-3, error
    with pytest.raises(TypeError, match="not a mix"):
        frechet_distance(stats[0], jax_args[1], stats[2], stats[3])


@pytest.mark.parametrize("fn", [frechet_distance, jax.jit(frechet_distance)])
def test_closed_form_diagonal_gaussians_under_and_without_jit(fn):
    # For commuting (diagonal) covariances, d^2 = |dmu|^2 + sum (sqrt(a) - sqrt(b))^2.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    mu1, mu2 = jnp.zeros(3, jnp.float32), jnp.array([1.0, 2.0, 2.0], jnp.float32)
    expected = 9.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = fn(mu1, jnp.diag(jnp.asarray(a, jnp.float32)), mu2, jnp.diag(jnp.asarray(b, jnp.float32)))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_identical_distributions_give_zero_and_symmetry():
    mu1, s1, mu2, s2 = random_gaussians(64, 400, seed=1)
    assert abs(frechet_distance_f64(mu1, s1, mu1, s1)) < 1e-8
    np.testing.assert_allclose(frechet_distance_f64(mu1, s1, mu2, s2),
                               frechet_distance_f64(mu2, s2, mu1, s1), rtol=1e-9)


def test_streaming_stats_match_numpy_over_uneven_batches():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(103, 7)).astype(np.float32) * 5 + 100  # an offset that float32 sums would blur
    stats = empty_stats(7, "test")
    for start in range(0, 103, 25):
        stats = update_stats(stats, x[start:start + 25])
    assert stats.n == 103
    np.testing.assert_allclose(stats.mean, x.astype(np.float64).mean(0), rtol=1e-12)
    np.testing.assert_allclose(covariance(stats), np.cov(x.astype(np.float64), rowvar=False), rtol=1e-9)


def test_stats_roundtrip_and_mismatch_errors(tmp_path):
    rng = np.random.default_rng(4)
    a = stats_from_features(rng.normal(size=(50, 6)), "digits_mlp_v1")
    path = save_stats(a, str(tmp_path / "a.npz"))
    b = load_stats(path)
    assert b.extractor == "digits_mlp_v1" and b.n == 50
    np.testing.assert_allclose(covariance(b), covariance(a), rtol=1e-12)
    with pytest.raises(ValueError, match="different feature extractors"):
        check_comparable(a, stats_from_features(rng.normal(size=(50, 6)), "inception"))
    with pytest.raises(ValueError, match="dimensions differ"):
        check_comparable(a, stats_from_features(rng.normal(size=(50, 5)), "digits_mlp_v1"))
    with pytest.raises(ValueError, match="at least 2 samples"):
        check_comparable(a, stats_from_features(rng.normal(size=(1, 6)), "digits_mlp_v1"))
    with pytest.raises(ValueError, match="do not match"):
        update_stats(a, rng.normal(size=(3, 5)))
