"""Precision/recall on constructed distributions with known answers; nearest neighbours vs numpy."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.metrics.nearest_neighbours import nearest_neighbours
from gan_jax.metrics.precision_recall import knn_radii, precision_recall

pr_variants = [precision_recall, jax.jit(precision_recall, static_argnames="k")]


def gaussian(n, seed, shift=0.0, scale=1.0):
    return jnp.asarray(np.random.default_rng(seed).normal(size=(n, 2)) * scale + shift, jnp.float32)


@pytest.mark.parametrize("fn", pr_variants)
def test_identical_sets_are_fully_precise_and_covering(fn):
    x = gaussian(300, 0)
    p, r = fn(x, x)
    assert float(p) == 1.0 and float(r) == 1.0


@pytest.mark.parametrize("fn", pr_variants)
def test_same_law_gives_high_precision_and_recall(fn):
    p, r = fn(gaussian(500, 1), gaussian(500, 2))
    assert float(p) > 0.85 and float(r) > 0.85


@pytest.mark.parametrize("fn", pr_variants)
def test_mode_collapse_lowers_recall_not_precision(fn):
    real = gaussian(500, 3)
    collapsed = gaussian(500, 4, scale=0.1)  # all samples near the real mode's centre
    p, r = fn(real, collapsed)
    assert float(p) > 0.9 and float(r) < 0.3


@pytest.mark.parametrize("fn", pr_variants)
def test_shifted_samples_lower_precision(fn):
    p, r = fn(gaussian(500, 5), gaussian(500, 6, shift=6.0))
    assert float(p) < 0.05 and float(r) < 0.05


def test_knn_radii_against_numpy():
    x = np.random.default_rng(7).normal(size=(40, 3)).astype(np.float32)
    d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
    np.testing.assert_allclose(knn_radii(jnp.asarray(x), 3), np.sort(d, 1)[:, 3], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("fn", [nearest_neighbours, jax.jit(nearest_neighbours, static_argnames="k")])
def test_nearest_neighbours_against_brute_force(fn):
    rng = np.random.default_rng(8)
    q, ref = rng.normal(size=(5, 4, 4, 1)), rng.normal(size=(30, 4, 4, 1))
    dist, idx = fn(jnp.asarray(q, jnp.float32), jnp.asarray(ref, jnp.float32), k=3)
    d = np.sqrt(((q.reshape(5, 1, -1) - ref.reshape(1, 30, -1)) ** 2).sum(-1))
    np.testing.assert_array_equal(np.asarray(idx), np.argsort(d, 1)[:, :3])
    np.testing.assert_allclose(np.asarray(dist), np.sort(d, 1)[:, :3], rtol=1e-4)
    # A query copied from the reference set is found at distance ~0: memorisation shows.
    dist, idx = fn(jnp.asarray(ref[:2], jnp.float32), jnp.asarray(ref, jnp.float32), k=1)
    np.testing.assert_array_equal(np.asarray(idx)[:, 0], [0, 1])
    assert float(jnp.max(dist)) < 1e-2
