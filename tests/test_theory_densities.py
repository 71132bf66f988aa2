"""Theory functions against closed forms and scipy quadrature."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy import integrate, stats

from gan_jax.core.state import apply_discriminator, create_state
from gan_jax.models.mlp import MLPDiscriminator
from gan_jax.theory.densities import (
    ShiftGenerator,
    fit_discriminator,
    gaussian_pdf,
    generator_gradients,
    js_divergence,
    kl_divergence,
    optimal_discriminator,
    value_function,
)

X = jnp.linspace(-12.0, 13.0, 5001)
P = gaussian_pdf(X, 0.0, 1.0)
Q = gaussian_pdf(X, 1.0, 1.0)


def _js_scipy(m1, s1, m2, s2):
    p, q = stats.norm(m1, s1).pdf, stats.norm(m2, s2).pdf
    def f(x):
        m = 0.5 * (p(x) + q(x))
        return 0.5 * p(x) * np.log(p(x) / m) + 0.5 * q(x) * np.log(q(x) / m)
    return integrate.quad(f, -20, 20, points=[m1, m2])[0]


@pytest.mark.parametrize("fn", [kl_divergence, jax.jit(kl_divergence, static_argnames="base")])
@pytest.mark.parametrize("m1,s1,m2,s2", [(0.0, 1.0, 1.0, 1.0), (0.0, 1.0, 0.5, 1.5)])
def test_kl_gaussian_closed_form(fn, m1, s1, m2, s2):
    want = np.log(s2 / s1) + (s1 ** 2 + (m1 - m2) ** 2) / (2 * s2 ** 2) - 0.5
    got = fn(gaussian_pdf(X, m1, s1), gaussian_pdf(X, m2, s2), X)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    np.testing.assert_allclose(fn(gaussian_pdf(X, m1, s1), gaussian_pdf(X, m2, s2), X, base=2),
                               want / np.log(2), rtol=1e-4)


@pytest.mark.parametrize("fn", [js_divergence, jax.jit(js_divergence, static_argnames="base")])
def test_js_against_scipy_and_bounds(fn):
    np.testing.assert_allclose(fn(P, Q, X), _js_scipy(0, 1, 1, 1), rtol=1e-4)
    np.testing.assert_allclose(fn(P, P, X), 0.0, atol=1e-7)
    # Disjoint supports reach the upper bound log 2 nats = 1 bit.
    far = gaussian_pdf(X, 10.0, 0.3)
    near = gaussian_pdf(X, -10.0, 0.3)
    np.testing.assert_allclose(fn(near, far, X, base=2), 1.0, atol=1e-5)


@pytest.mark.parametrize("fn", [optimal_discriminator, jax.jit(optimal_discriminator)])
def test_optimal_discriminator_formula_and_maximises_value(fn):
    d = fn(P, Q)
    np.testing.assert_allclose(d, np.asarray(P) / (np.asarray(P) + np.asarray(Q)), rtol=1e-6)
    # For two unit Gaussians D*(x) = sigmoid(1/2 - x), and D* = 1/2 where both vanish.
    np.testing.assert_allclose(d[jnp.abs(X) < 5], jax.nn.sigmoid(0.5 - X[jnp.abs(X) < 5]), rtol=1e-5)
    assert float(fn(jnp.zeros(1), jnp.zeros(1))[0]) == 0.5
    best = value_function(P, Q, d, X)
    for eps in (0.05, -0.05):
        assert value_function(P, Q, jnp.clip(d + eps, 1e-6, 1 - 1e-6), X) < best


@pytest.mark.parametrize("fn", [value_function, jax.jit(value_function)])
def test_value_at_optimum_is_minus_2log2_plus_2js(fn):
    value = fn(P, Q, optimal_discriminator(P, Q), X)
    np.testing.assert_allclose(value, -2 * np.log(2) + 2 * _js_scipy(0, 1, 1, 1), atol=1e-5)
    np.testing.assert_allclose(fn(P, P, jnp.full_like(X, 0.5), X), -2 * np.log(2), rtol=1e-5)


def test_kl_is_infinite_where_q_vanishes():
    x = jnp.linspace(0.0, 2.0, 201)
    p = jnp.full_like(x, 0.5)
    q = jnp.where(x < 1.0, 1.0, 0.0)
    assert np.isinf(float(kl_divergence(p, q / jnp.trapezoid(q, x), x)))


@pytest.mark.parametrize("bad,match", [
    (-P, "density p has negative values"),
    (2.0 * P, "density p integrates to 2"),
])
def test_bad_densities_named(bad, match):
    with pytest.raises(ValueError, match=match):
        kl_divergence(bad, Q, X)
    with pytest.raises(ValueError, match=match.replace("density p", "density q")):
        kl_divergence(Q, bad, X)
    with pytest.raises(ValueError, match=match.replace("density p", "density p_g")):
        value_function(P, bad, optimal_discriminator(P, Q), X)


def test_shift_generator_makes_p_g_shifted():
    gen = ShiftGenerator(shift=1.0)
    z = jnp.arange(4.0).reshape(4, 1)
    variables = gen.init(jax.random.PRNGKey(0), z)
    np.testing.assert_array_equal(gen.apply(variables, z), z + 1.0)
    np.testing.assert_array_equal(gen.apply({"params": {"shift": jnp.float32(-2.0)}}, z), z - 2.0)


@pytest.mark.parametrize("a,b", [(2.0, -1.0), (-0.5, 3.0)])
def test_generator_gradients_closed_forms_for_linear_logit(a, b):
    x = jnp.linspace(-3.0, 3.0, 7)
    grads = generator_gradients(lambda xs: a * xs[:, 0] + b, x)
    d = 1.0 / (1.0 + np.exp(-(a * np.asarray(x) + b)))
    np.testing.assert_allclose(grads["saturating"], -0.5 * d * a, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grads["nonsaturating"], -0.5 * (1 - d) * a, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(grads["maximum_likelihood"], -0.5 * np.exp(a * np.asarray(x) + b) * a, rtol=1e-5)


def test_fit_discriminator_approaches_optimal_d():
    state = create_state(jax.random.PRNGKey(0), ShiftGenerator(shift=1.0), MLPDiscriminator(hidden=16, depth=1),
                         optax.sgd(0.0), optax.adam(1e-2), latent_dim=1, data_shape=(1,))
    state, d_losses = fit_discriminator(state, jax.random.PRNGKey(1), 400, 256)
    assert d_losses.shape == (400,)
    x = jnp.linspace(-2.0, 3.0, 51)
    logits, _ = apply_discriminator(state, state.d_params, state.d_batch_stats, x[:, None], train=False)
    d_star = optimal_discriminator(gaussian_pdf(x), gaussian_pdf(x, 1.0))
    assert float(jnp.max(jnp.abs(jax.nn.sigmoid(logits) - d_star))) < 0.05
    # The generator's fixed parameter is untouched by D's training.
    np.testing.assert_array_equal(state.g_params["shift"], 1.0)
