"""KID against a numpy double loop and a closed form of the population MMD^2."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.metrics.kid import kernel_inception_distance, kid_in_parts, mmd2_unbiased


def loop_mmd2(x, y):
    k = lambda a, b: (a @ b / len(a) + 1.0) ** 3  # noqa: E731
    m, n = len(x), len(y)
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return sxx + syy - 2 * sxy


@pytest.mark.parametrize("fn", [mmd2_unbiased, jax.jit(mmd2_unbiased)])
def test_mmd2_matches_double_loop(fn):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(12, 3)), rng.normal(size=(9, 3)) + 0.3
    np.testing.assert_allclose(float(fn(jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.float32))),
                               loop_mmd2(x, y), rtol=1e-4, atol=1e-5)


def expected_kernel(m1, m2):
    # d = 1: E (x x' + 1)^3 for independent x ~ N(m1, 1), x' ~ N(m2, 1), from moments
    # E x = m, E x^2 = m^2 + 1, E x^3 = m^3 + 3 m.
    e1 = lambda m: m  # noqa: E731
    e2 = lambda m: m * m + 1  # noqa: E731
    e3 = lambda m: m ** 3 + 3 * m  # noqa: E731
    return e3(m1) * e3(m2) + 3 * e2(m1) * e2(m2) + 3 * e1(m1) * e1(m2) + 1


@pytest.mark.parametrize("shift", [0.0, 0.5])
def test_kid_is_unbiased_for_the_population_mmd2(shift):
    rng = np.random.default_rng(1)
    real = jnp.asarray(rng.normal(size=(4000, 1)), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(4000, 1)) + shift, jnp.float32)
    mean, std = jax.jit(kernel_inception_distance, static_argnames=("num_subsets", "subset_size"))(
        jax.random.PRNGKey(0), real, fake, num_subsets=50, subset_size=400)
    truth = expected_kernel(0, 0) + expected_kernel(shift, shift) - 2 * expected_kernel(0, shift)
    assert float(std) > 0
    # The subset mean of an unbiased estimator is within a few standard errors of the truth.
    assert abs(float(mean) - truth) < 4 * float(std) / np.sqrt(50) + 0.02 * truth + 1e-3


@pytest.mark.parametrize("n_real,n_fake,subset_size", [(60, 45, 40), (45, 60, 100)])
def test_kid_in_parts_draws_the_same_subsets_as_the_whole_program(n_real, n_fake, subset_size):
    """The evaluators' KID (three programs) against kernel_inception_distance: the same
    rows on each side (unequal counts, so swapped sides or counts would show) and values."""
    rng = np.random.default_rng(2)
    real = jnp.asarray(rng.normal(size=(n_real, 4)), jnp.float32)
    fake = jnp.asarray(rng.normal(size=(n_fake, 4)) * 1.5 + 0.3, jnp.float32)
    key = jax.random.PRNGKey(3)
    whole = jax.jit(kernel_inception_distance, static_argnames=("num_subsets", "subset_size"))(
        key, real, fake, num_subsets=6, subset_size=subset_size)
    parts = kid_in_parts(key, real, fake, 6, subset_size)
    np.testing.assert_allclose(np.array(parts), np.array(whole), rtol=1e-6)
