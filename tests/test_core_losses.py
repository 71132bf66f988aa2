"""Every loss against its textbook formula (float64 NumPy), with and without
jit, at extreme logits, and with its gradient checked."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from gan_jax.core import losses

RNG = np.random.default_rng(0)
REAL = RNG.normal(size=16).astype(np.float32) * 3
FAKE = RNG.normal(size=16).astype(np.float32) * 3
EXTREME = np.array([-100.0, -50.0, -1.0, 0.0, 1.0, 50.0, 100.0], np.float32)
JIT = pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def maybe_jit(f, jit):
    return jax.jit(f) if jit else f


@JIT
def test_discriminator_bce_is_half_sum_of_log_terms(jit):
    f = maybe_jit(losses.discriminator_bce, jit)
    want = -0.5 * np.mean(np.log(sigmoid(REAL))) - 0.5 * np.mean(np.log(1 - sigmoid(FAKE)))
    np.testing.assert_allclose(f(REAL, FAKE), want, rtol=1e-5)


@JIT
def test_one_sided_label_smoothing_changes_only_real_targets(jit):
    s = 0.1
    f = maybe_jit(lambda r, g: losses.discriminator_bce(r, g, s), jit)
    d_real, d_fake = sigmoid(REAL), sigmoid(FAKE)
    want = (-0.5 * np.mean((1 - s) * np.log(d_real) + s * np.log(1 - d_real))
            - 0.5 * np.mean(np.log(1 - d_fake)))
    np.testing.assert_allclose(f(REAL, FAKE), want, rtol=1e-5)


@JIT
@pytest.mark.parametrize("name,formula", [
    ("saturating", lambda l: 0.5 * np.mean(np.log(1 - sigmoid(l)))),
    ("nonsaturating", lambda l: -0.5 * np.mean(np.log(sigmoid(l)))),
    ("maximum_likelihood", lambda l: -0.5 * np.mean(np.exp(np.log(sigmoid(l) / (1 - sigmoid(l)))))),
    ("wasserstein", lambda l: -np.mean(l)),
    ("least_squares", lambda l: 0.5 * np.mean((l - 1) ** 2)),
    ("hinge", lambda l: -np.mean(l)),
])
def test_generator_losses_match_formulas(name, formula, jit):
    f = maybe_jit(losses.G_LOSSES[name], jit)
    np.testing.assert_allclose(f(FAKE), formula(FAKE), rtol=1e-5, atol=1e-6)


@JIT
@pytest.mark.parametrize("name,formula", [
    ("wasserstein", lambda r, g: np.mean(g) - np.mean(r)),
    ("least_squares", lambda r, g: 0.5 * np.mean((r - 1) ** 2) + 0.5 * np.mean(g ** 2)),
    ("hinge", lambda r, g: np.mean(np.maximum(0, 1 - r)) + np.mean(np.maximum(0, 1 + g))),
])
def test_discriminator_losses_match_formulas(name, formula, jit):
    f = maybe_jit(losses.D_LOSSES[name], jit)
    np.testing.assert_allclose(f(REAL, FAKE), formula(REAL, FAKE), rtol=1e-5, atol=1e-6)


def test_saturating_is_minus_discriminator_cost_up_to_a_generator_free_term():
    # J(G) = -J(D) + c: -J(D) - J(G) = 1/2 E log D(x) for every fake batch, and
    # the two have the same gradient with respect to the fake logits.
    real = jnp.asarray(REAL)
    g_free = 0.5 * np.mean(np.log(sigmoid(REAL)))
    for fake in (FAKE, -2 * FAKE + 1):
        difference = -losses.discriminator_bce(real, jnp.asarray(fake)) - losses.generator_saturating(fake)
        np.testing.assert_allclose(difference, g_free, rtol=1e-5)
        np.testing.assert_allclose(jax.grad(lambda f: -losses.discriminator_bce(real, f))(jnp.asarray(fake)),
                                   jax.grad(losses.generator_saturating)(jnp.asarray(fake)), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", sorted(losses.G_LOSSES))
def test_generator_losses_finite_with_finite_gradients_at_extreme_logits(name):
    value, grad = jax.value_and_grad(losses.G_LOSSES[name])(jnp.asarray(EXTREME))
    assert np.isfinite(value) and np.all(np.isfinite(grad))


@pytest.mark.parametrize("name", sorted(losses.D_LOSSES))
def test_discriminator_losses_finite_at_extreme_logits(name):
    value, grads = jax.value_and_grad(losses.D_LOSSES[name], argnums=(0, 1))(
        jnp.asarray(EXTREME), jnp.asarray(EXTREME[::-1]))
    assert np.isfinite(value) and all(np.all(np.isfinite(g)) for g in grads)


def test_extreme_gradients_equal_the_analytic_ones():
    n = len(EXTREME)
    d = sigmoid(EXTREME)
    # d/dl of 1/2 mean log(1 - sigmoid(l)) = -sigmoid(l) / (2n): vanishes for l << 0 (saturation).
    np.testing.assert_allclose(jax.grad(losses.generator_saturating)(jnp.asarray(EXTREME)),
                               -d / (2 * n), rtol=1e-5, atol=1e-30)
    # d/dl of -1/2 mean log sigmoid(l) = -(1 - sigmoid(l)) / (2n): about -1/(2n) for l << 0.
    np.testing.assert_allclose(jax.grad(losses.generator_nonsaturating)(jnp.asarray(EXTREME)),
                               -sigmoid(-EXTREME) / (2 * n), rtol=1e-5, atol=1e-30)
    # BCE of the discriminator at l = +-100: the loss is ~0 and finite, not log(0).
    assert float(losses.discriminator_bce(jnp.array([100.0]), jnp.array([-100.0]))) < 1e-30
    np.testing.assert_allclose(float(losses.discriminator_bce(jnp.array([-100.0]), jnp.array([100.0]))), 100.0,
                               rtol=1e-6)


def test_maximum_likelihood_is_exact_below_the_linear_tail_and_monotone_above():
    logits = jnp.array([-5.0, 0.0, 10.0, 59.0])
    np.testing.assert_allclose(losses.generator_maximum_likelihood(logits),
                               -0.5 * np.mean(np.exp(np.asarray(logits, np.float64))), rtol=1e-5)
    big = jnp.array([100.0, 1000.0])
    values = [float(losses.generator_maximum_likelihood(big[i:i + 1])) for i in range(2)]
    assert np.isfinite(values).all() and values[1] < values[0] < 0


@pytest.mark.parametrize("name", sorted(losses.G_LOSSES))
def test_generator_gradients_numerically(name):
    check_grads(losses.G_LOSSES[name], (jnp.asarray(FAKE[:4], jnp.float32) * 0.3 + 0.1,), order=1,
                modes=("rev",), atol=1e-2, rtol=1e-2)


def test_gradient_penalty_per_sample_norm_over_all_dimensions():
    # critic f(x) = sum(w * x) has gradient w for every sample: ||w|| over all
    # of H, W, C, so the penalty is (||w|| - 1)^2 whatever eps is.
    w = jnp.asarray(RNG.normal(size=(4, 4, 3)), jnp.float32)
    critic = lambda x: jnp.sum(x * w, axis=(1, 2, 3))
    real = jnp.asarray(RNG.normal(size=(5, 4, 4, 3)), jnp.float32)
    fake = jnp.asarray(RNG.normal(size=(5, 4, 4, 3)), jnp.float32)
    gp = jax.jit(losses.gradient_penalty, static_argnums=0)(critic, real, fake, jax.random.PRNGKey(0))
    np.testing.assert_allclose(gp, (np.linalg.norm(np.asarray(w)) - 1) ** 2, rtol=1e-5)


def test_gradient_penalty_of_a_quadratic_critic_matches_the_formula():
    # f(x) = 1/2 ||x||^2 per sample has gradient x_hat, so the penalty is mean (||x_hat|| - 1)^2.
    critic = lambda x: 0.5 * jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1)
    real = jnp.asarray(RNG.normal(size=(6, 3, 2)), jnp.float32)
    fake = jnp.asarray(RNG.normal(size=(6, 3, 2)), jnp.float32)
    key = jax.random.PRNGKey(3)
    eps = np.asarray(jax.random.uniform(key, (6, 1, 1)))
    x_hat = eps * np.asarray(real) + (1 - eps) * np.asarray(fake)
    want = np.mean((np.linalg.norm(x_hat.reshape(6, -1), axis=1) - 1) ** 2)
    np.testing.assert_allclose(losses.gradient_penalty(critic, real, fake, key), want, rtol=1e-5)


def test_r1_penalty_is_the_mean_squared_gradient_norm_on_real_data():
    # f(x) = sum(w * x) has gradient w everywhere: penalty ||w||^2 over all dimensions.
    w = jnp.asarray(RNG.normal(size=(4, 4, 3)), jnp.float32)
    real = jnp.asarray(RNG.normal(size=(5, 4, 4, 3)), jnp.float32)
    r1 = jax.jit(losses.r1_penalty, static_argnums=0)
    np.testing.assert_allclose(r1(lambda x: jnp.sum(x * w, axis=(1, 2, 3)), real),
                               np.sum(np.asarray(w) ** 2), rtol=1e-5)
    # f(x) = 1/2 ||x||^2 has gradient x: penalty mean ||x||^2.
    quadratic = lambda x: 0.5 * jnp.sum(x.reshape(x.shape[0], -1) ** 2, axis=1)
    np.testing.assert_allclose(r1(quadratic, real),
                               np.mean(np.sum(np.asarray(real).reshape(5, -1) ** 2, axis=1)), rtol=1e-5)


@JIT
def test_feature_matching_is_squared_distance_of_means(jit):
    real = RNG.normal(size=(8, 5)).astype(np.float32)
    fake = RNG.normal(size=(8, 5)).astype(np.float32) + 1
    f = maybe_jit(losses.feature_matching, jit)
    np.testing.assert_allclose(f(real, fake), np.sum((real.mean(0) - fake.mean(0)) ** 2), rtol=1e-5)
    assert float(f(real, real)) == 0.0
