"""The Fréchet distance from feature rows (an n x m SVD) against scipy's sqrtm and closed forms."""

import numpy as np
import pytest
import scipy.linalg

from gan_jax.metrics.frechet_features import frechet_distance_of_features


def scipy_frechet(x, y):
    """|mu_x - mu_y|^2 + Tr(S_x + S_y - 2 sqrtm(S_x S_y)) with scipy's general matrix square root."""
    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    diff = x.mean(0) - y.mean(0)
    return float(diff @ diff + np.trace(sx + sy) - 2.0 * np.real(np.trace(scipy.linalg.sqrtm(sx @ sy))))


@pytest.mark.parametrize("n, m, d", [(200, 150, 6), (40, 60, 12)])
def test_matches_scipy_sqrtm_on_full_rank_covariances(n, m, d):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    y = rng.normal(size=(m, d)) * 1.5 + 0.3
    assert frechet_distance_of_features(x, y) == pytest.approx(scipy_frechet(x, y), rel=1e-9)


def test_fewer_samples_than_dimensions_matches_the_reduced_rank_reference():
    """n, m < d: S_x, S_y singular. The reference works in an orthonormal basis Q of the span of
    both centred sets and the mean difference, which holds both covariances' column spaces and
    mu_x - mu_y: every term is unchanged in it, and sqrtm of the small (r x r) product is exact
    up to its own round-off."""
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 64)), rng.normal(size=(9, 64)) + 0.1
    xc, yc = x - x.mean(0), y - y.mean(0)
    q, _ = np.linalg.qr(np.concatenate([xc, yc, (x.mean(0) - y.mean(0))[None]]).T)
    px, py = x @ q, y @ q
    assert frechet_distance_of_features(x, y) == pytest.approx(scipy_frechet(px, py), rel=1e-7)


def test_closed_forms_self_distance_zero_and_translation_gives_the_squared_shift():
    """d(X, X) = 0; d(X, X + c) = |c|^2 (same covariance: the trace terms cancel)."""
    x = np.random.default_rng(2).normal(size=(30, 100))
    shift = np.linspace(-1, 1, 100)
    assert frechet_distance_of_features(x, x) == pytest.approx(0.0, abs=1e-9)
    assert frechet_distance_of_features(x, x + shift) == pytest.approx(shift @ shift, rel=1e-9)
