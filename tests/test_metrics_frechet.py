"""Fréchet distance and streaming statistics against scipy/numpy references."""

import jax
import numpy as np
import pytest
import scipy.linalg

from gan_jax.errors import UserError
from gan_jax.metrics.frechet import frechet_distance, frechet_distance_f64
from gan_jax.metrics.stats import (check_comparable, covariance, load_stats, save_stats,
                                   stats_from_features, update_stats, empty_stats)


def scipy_fid(mu1, s1, mu2, s2):
    """The reference formula of pytorch-fid/TTUR with scipy.linalg.sqrtm of S1 S2."""
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def random_gaussians(d, n, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(n, d)), rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) * 0.3
    cov = lambda z: np.atleast_2d(np.cov(z, rowvar=False))  # noqa: E731
    return a.mean(0), cov(a), b.mean(0) + 0.5, cov(b)


@pytest.mark.parametrize("d", [1, 5, 32])
def test_matches_scipy_sqrtm_reference(d):
    args = random_gaussians(d, 20 * d + 10, seed=d)
    np.testing.assert_allclose(frechet_distance_f64(*args), scipy_fid(*args), rtol=1e-6)


@pytest.mark.parametrize("fn", [frechet_distance, jax.jit(frechet_distance)])
def test_closed_form_diagonal_gaussians_under_and_without_jit(fn):
    # For commuting (diagonal) covariances, d^2 = |dmu|^2 + sum (sqrt(a) - sqrt(b))^2.
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    mu1, mu2 = np.zeros(3, np.float32), np.array([1.0, 2.0, 2.0], np.float32)
    expected = 9.0 + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    got = fn(mu1, np.diag(a).astype(np.float32), mu2, np.diag(b).astype(np.float32))
    np.testing.assert_allclose(float(got), expected, rtol=1e-5)


def test_identical_distributions_give_zero_and_symmetry():
    mu1, s1, mu2, s2 = random_gaussians(16, 200, seed=1)
    assert abs(frechet_distance_f64(mu1, s1, mu1, s1)) < 1e-8
    np.testing.assert_allclose(frechet_distance_f64(mu1, s1, mu2, s2),
                               frechet_distance_f64(mu2, s2, mu1, s1), rtol=1e-9)


def test_singular_covariances_fewer_samples_than_dimensions():
    # n = 10 < d = 40: both covariances have rank 9. The PSD square root is still
    # defined; compare with the exact value from an eigendecomposition in numpy.
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(10, 40)), rng.normal(size=(10, 40)) + 0.2
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    ev = np.clip(np.linalg.eigvalsh(root @ s2 @ root), 0, None)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(ev).sum()
    got = frechet_distance_f64(mu1, s1, mu2, s2)
    assert np.isfinite(got)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


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
    with pytest.raises(UserError, match="different feature extractors"):
        check_comparable(a, stats_from_features(rng.normal(size=(50, 6)), "inception"))
    with pytest.raises(UserError, match="dimensions differ"):
        check_comparable(a, stats_from_features(rng.normal(size=(50, 5)), "digits_mlp_v1"))
    with pytest.raises(UserError, match="at least 2 samples"):
        check_comparable(a, stats_from_features(rng.normal(size=(1, 6)), "digits_mlp_v1"))
    with pytest.raises(UserError, match="do not match"):
        update_stats(a, rng.normal(size=(3, 5)))
