"""The unrolled optimiser against closed forms, a NumPy Adam and finite
differences; its hook into the generator step; and the bad-input errors."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from jax.test_util import check_grads

from gan_jax.config.build import build_models, build_objective, init_state
from gan_jax.config.schema import get_config
from gan_jax.core.objective import GANObjective
from gan_jax.core.state import Batch
from gan_jax.core.steps import _g_loss, g_step, train_step
from gan_jax.core.unrolled import unroll_updates
from gan_jax.errors import UserError
from gan_jax.train.driver import train_members
from gan_jax.train.memory import check_unroll, unroll_memory_bytes

JIT = pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])


def maybe_jit(f, jit):
    return jax.jit(f) if jit else f


def quadratic_unroll(theta, p0, lr, k, stop_gradient=False):
    """k SGD steps on 0.5 (p - theta)^2, starting at p0."""
    tx = optax.sgd(lr)
    loss = lambda p, _: 0.5 * (p - theta) ** 2
    return unroll_updates(loss, p0, tx.init(p0), tx, jnp.arange(k), stop_gradient=stop_gradient)


@JIT
@pytest.mark.parametrize("k", [0, 1, 7])
def test_sgd_unroll_matches_closed_form(k, jit):
    """p_k = theta + (1 - lr)^k (p_0 - theta); dp_k/dtheta = 1 - (1 - lr)^k."""
    theta, p0, lr = 0.7, 2.0, 0.3
    f = maybe_jit(lambda t: quadratic_unroll(t, jnp.float32(p0), lr, k), jit)
    assert float(f(theta)) == pytest.approx(theta + (1 - lr) ** k * (p0 - theta), rel=1e-5)
    assert float(jax.grad(f)(theta)) == pytest.approx(1 - (1 - lr) ** k, rel=1e-5, abs=1e-6)


@JIT
def test_stop_gradient_keeps_the_value_and_cuts_the_derivative(jit):
    theta, p0 = 0.7, jnp.float32(2.0)
    full = maybe_jit(lambda t: quadratic_unroll(t, p0, 0.3, 5), jit)
    cut = maybe_jit(lambda t: quadratic_unroll(t, p0, 0.3, 5, stop_gradient=True), jit)
    assert float(cut(theta)) == pytest.approx(float(full(theta)), rel=1e-6)
    assert float(jax.grad(cut)(theta)) == 0.0
    assert float(jax.grad(full)(theta)) != 0.0


def numpy_adam(grad_fn, p, steps, lr, b1, b2, eps):
    """Adam (Kingma & Ba 2015, Algorithm 1) in float64 NumPy."""
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t in range(1, steps + 1):
        g = grad_fn(p)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return p


@JIT
def test_adam_unroll_matches_numpy_adam_and_carries_its_moments(jit):
    """Loss sum_i a_i (p_i - c_i)^2 / 2 + p_0 p_1; 6 Adam steps."""
    a = np.array([1.0, 3.0, 0.5])
    c = np.array([0.2, -1.0, 2.0])

    def grad_np(p):
        g = a * (p - c)
        g[0] += p[1]
        g[1] += p[0]
        return g

    def loss(p, _):
        return 0.5 * jnp.sum(a * (p - c) ** 2) + p[0] * p[1]

    tx = optax.adam(0.05, b1=0.5, b2=0.9)
    p0 = jnp.array([1.0, 0.5, -0.5], jnp.float32)
    f = maybe_jit(lambda p: unroll_updates(loss, p, tx.init(p), tx, jnp.arange(6)), jit)
    want = numpy_adam(grad_np, np.asarray(p0, np.float64), 6, 0.05, 0.5, 0.9, 1e-8)
    np.testing.assert_allclose(np.asarray(f(p0)), want, rtol=1e-5, atol=1e-6)


def test_gradient_through_adam_unroll_matches_finite_differences():
    """A miniature unrolled GAN in float64: a logistic discriminator w takes 4
    Adam steps against fakes theta + z; the outer loss is its logit on the fakes."""
    tx = optax.adam(0.1)

    def outer(theta):
        z = jnp.linspace(-1.0, 1.0, 5, dtype=jnp.float64)
        real = jnp.linspace(1.0, 2.0, 5, dtype=jnp.float64)

        def d_loss(w, _):
            logit = lambda x: w[0] * x + w[1] * x ** 2 + w[2]
            return -jnp.mean(jax.nn.log_sigmoid(logit(real)) + jax.nn.log_sigmoid(-logit(theta + z)))
        w0 = jnp.array([0.1, -0.2, 0.05], jnp.float64)
        w = unroll_updates(d_loss, w0, tx.init(w0), tx, jnp.arange(4))
        return -jnp.mean(jax.nn.log_sigmoid(w[0] * (theta + z) + w[1] * (theta + z) ** 2 + w[2]))

    with jax.enable_x64(True):
        check_grads(outer, (jnp.float64(0.3),), order=1, modes=["rev"], eps=1e-5, atol=1e-6, rtol=1e-5)


def tiny_ring(**overrides):
    changes = dict(mlp_hidden=16, latent_dim=4, batch_size=32)
    changes.update(overrides)
    return get_config("ring8", [f"{k}={v}" for k, v in changes.items()])


@pytest.fixture(scope="module")
def plain():
    """One tiny ring8 state, built once (building is slow on a shared CPU)."""
    return init_state(tiny_ring())


def with_objective(state, **changes):
    return state.replace(objective=dataclasses.replace(state.objective, **changes))


def test_k0_generator_step_is_the_ordinary_step(plain):
    """unroll_steps=0 is exactly the ordinary GAN (same key use, same update)."""
    assert plain.objective.unroll_steps == 0
    real = jax.random.normal(jax.random.PRNGKey(1), (32, 2))
    key = jax.random.PRNGKey(2)
    z = jax.random.normal(key, (32, 4))

    def ordinary_loss(g_params):
        fake = plain.generator.apply({"params": g_params}, z)
        logits = plain.discriminator.apply({"params": plain.d_params}, fake)
        return -0.5 * jnp.mean(jax.nn.log_sigmoid(logits))

    grads = jax.jit(jax.grad(ordinary_loss))(plain.g_params)
    updates, _ = plain.g_tx.update(grads, plain.g_opt_state, plain.g_params)
    want = optax.apply_updates(plain.g_params, updates)
    new, _ = jax.jit(g_step)(plain, Batch(real), key)
    for a, b in zip(jax.tree.leaves(new.g_params), jax.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_unrolled_generator_loss_uses_the_unrolled_discriminator(plain):
    """The loss value equals the ordinary loss against theta_D^k, where theta_D^k
    is k d_tx updates on the discriminator loss; with stop_gradient the gradient
    is the ordinary gradient against theta_D^k, without it it differs."""
    k = 2
    base = with_objective(plain, unroll_steps=k)
    cut = with_objective(base, unroll_stop_gradient=True)
    real = jax.random.normal(jax.random.PRNGKey(1), (32, 2))
    z = jax.random.normal(jax.random.PRNGKey(3), (32, 4))
    unroll_key = jax.random.PRNGKey(4)

    def d_after_k(g_params):
        def d_loss(d_params, step_key):
            zk, _ = jax.random.split(step_key)
            fake = base.generator.apply({"params": g_params}, jax.random.normal(zk, (32, 4)))
            real_l = base.discriminator.apply({"params": d_params}, real)
            fake_l = base.discriminator.apply({"params": d_params}, fake)
            return -0.5 * jnp.mean(jax.nn.log_sigmoid(real_l)) - 0.5 * jnp.mean(jax.nn.log_sigmoid(-fake_l))
        p, s = base.d_params, base.d_opt_state
        for step_key in jax.random.split(unroll_key, k):
            grads = jax.grad(d_loss)(p, step_key)
            updates, s = base.d_tx.update(grads, s, p)
            p = optax.apply_updates(p, updates)
        return p

    def against(d_params, g_params):
        fake = base.generator.apply({"params": g_params}, z)
        return -0.5 * jnp.mean(jax.nn.log_sigmoid(base.discriminator.apply({"params": d_params}, fake)))

    @jax.jit
    def unrolled(st, g_params):
        return jax.value_and_grad(lambda g: _g_loss(st, g, z, None, real, unroll_key)[0])(g_params)

    @jax.jit
    def reference(g_params):
        """Loss against theta_D^k(theta_G); gradient through theta_D^k and with it held fixed."""
        value, full = jax.value_and_grad(lambda g: against(d_after_k(g), g))(g_params)
        d_k = d_after_k(g_params)
        return value, full, jax.grad(lambda g: against(d_k, g))(g_params)

    value, g_full = unrolled(base, base.g_params)
    _, g_cut = unrolled(cut, base.g_params)
    want_value, g_full_ref, g_cut_ref = reference(base.g_params)
    assert float(value) == pytest.approx(float(want_value), rel=1e-5)
    for got, want in ((g_cut, g_cut_ref), (g_full, g_full_ref)):
        for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    diff = sum(float(jnp.sum(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(g_full), jax.tree.leaves(g_cut)))
    assert diff > 1e-6


def test_minimax_unroll_is_metz_f_k_with_its_real_term_and_shared_fakes(plain):
    """unroll_objective=minimax, unroll_shared_latent: G minimises
    f_K = 1/2 E log D_K(x) + 1/2 E log(1 - D_K(G(z))), theta_D^K = k d_tx updates on
    the same x and G(z) (the authors' notebook); the real term reaches G through theta_D^K."""
    k = 2
    state = with_objective(plain, unroll_steps=k, unroll_objective="minimax", unroll_shared_latent=True)
    real = jax.random.normal(jax.random.PRNGKey(1), (32, 2))
    z = jax.random.normal(jax.random.PRNGKey(3), (32, 4))
    logit = lambda d, x: state.discriminator.apply({"params": d}, x)

    def f_k(g_params, real_term=True):
        fake = state.generator.apply({"params": g_params}, z)
        d_loss = lambda d: (-0.5 * jnp.mean(jax.nn.log_sigmoid(logit(d, real)))
                            - 0.5 * jnp.mean(jax.nn.log_sigmoid(-logit(d, fake))))
        p, s = state.d_params, state.d_opt_state
        for _ in range(k):
            updates, s = state.d_tx.update(jax.grad(d_loss)(p), s, p)
            p = optax.apply_updates(p, updates)
        value = 0.5 * jnp.mean(jax.nn.log_sigmoid(-logit(p, fake)))
        return value + (0.5 * jnp.mean(jax.nn.log_sigmoid(logit(p, real))) if real_term else 0.0)

    got_value, got = jax.jit(jax.value_and_grad(
        lambda g: _g_loss(state, g, z, None, real, jax.random.PRNGKey(4))[0]))(state.g_params)
    want_value, want = jax.jit(jax.value_and_grad(f_k))(state.g_params)
    assert float(got_value) == pytest.approx(float(want_value), rel=1e-5)
    for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)
    # The real-data term changes G's gradient (it depends on G only through the unroll).
    fake_only = jax.jit(jax.grad(lambda g: f_k(g, real_term=False)))(state.g_params)
    diff = sum(float(jnp.sum(jnp.abs(a - b))) for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(fake_only)))
    assert diff > 1e-6


def test_unknown_unroll_objective_is_refused():
    with pytest.raises(ValueError, match="unroll_objective"):
        GANObjective(unroll_objective="maximin")
    with pytest.raises(UserError, match="unroll_objective"):
        tiny_ring(unroll_objective="maximin")


@pytest.mark.parametrize("change", [{"unroll_objective": "minimax"}, {"unroll_shared_latent": True}])
def test_unroll_options_without_an_unroll_are_refused(change):
    """They only change the unrolled D; with k = 0 they would silently do nothing."""
    with pytest.raises(ValueError, match="unroll_steps >= 1"):
        GANObjective(**change)
    with pytest.raises(UserError, match="unroll_steps >= 1"):
        build_objective(tiny_ring(**change))
    GANObjective(unroll_steps=1, **change)


def test_unrolled_train_step_runs_jitted_and_stays_finite(plain):
    state = with_objective(plain, unroll_steps=1)
    batches = jax.random.normal(jax.random.PRNGKey(0), (1, 32, 2))
    for i in range(3):
        state, metrics = jax.jit(train_step)(state, Batch(batches), jax.random.PRNGKey(i))
    assert int(state.step) == 3
    assert all(np.isfinite(float(v)) for v in metrics.values())
    assert all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree.leaves(state.g_params))


def test_memory_estimate_is_linear_in_k_and_counts_the_parameters(plain):
    m1 = unroll_memory_bytes(plain.discriminator, plain.d_params, (32, 2), 1)
    n_params = sum(x.size for x in jax.tree.leaves(plain.d_params))
    assert m1 > 4 * 4 * n_params  # 4 float32 copies of theta_D, plus activations
    assert unroll_memory_bytes(plain.discriminator, plain.d_params, (32, 2), 20) == 20 * m1


def test_negative_k_is_refused_everywhere():
    with pytest.raises(ValueError, match="unroll_steps"):
        GANObjective(unroll_steps=-1)
    with pytest.raises(UserError, match="unroll_steps"):
        build_objective(tiny_ring(unroll_steps=-1))
    with pytest.raises(UserError, match="unroll_steps"):
        check_unroll(-3)


def test_an_unroll_too_large_for_memory_is_refused_before_compiling(monkeypatch):
    from gan_jax.train import memory
    monkeypatch.setattr(memory, "memory_limit", lambda: memory.MemoryLimit(2 ** 26, "a pretended 64 MiB"))
    with pytest.raises(UserError, match="GiB.*unroll_steps<="):   # the driver checks before anything compiles
        train_members(tiny_ring(unroll_steps=1000), [0])
    with pytest.raises(UserError, match="unroll_steps<=4"):
        check_unroll(10, needed_bytes=10 * 2 ** 30, available_bytes=9 * 2 ** 30)
    check_unroll(10, needed_bytes=2 ** 30, available_bytes=9 * 2 ** 30)


def test_memory_estimate_handles_batch_norm_discriminators():
    """DCGAN's D keeps batch statistics; the estimate must run on it (digits_unrolled).
    Only shapes are needed, so the variables come from ``jax.eval_shape``."""
    config = get_config("digits_unrolled", ["d_width=8", "batch_size=8"])
    assert config.unroll_steps == 20
    _, disc = build_models(config)
    variables = jax.eval_shape(lambda k: disc.init(k, jnp.zeros((2, 8, 8, 1)), train=False),
                               jax.random.PRNGKey(0))
    assert variables["batch_stats"]
    one = unroll_memory_bytes(disc, variables["params"], (8, 8, 8, 1), 1, variables["batch_stats"])
    assert one > 4 * 4 * sum(math.prod(x.shape) for x in jax.tree.leaves(variables["params"]))


def test_memory_estimate_matches_the_compiled_generator_step(plain):
    """The estimate against XLA's own count: the temporary buffers of the
    compiled unrolled generator step (what the backward pass keeps) are within
    a factor of 2 of it either way (measured on XLA:CPU for this ring MLP:
    0.94, 0.99, 1.00 at k = 1, 5, 10). One k: compiling the unroll is slow."""
    k = 1
    state = with_objective(plain, unroll_steps=k)
    real = jnp.zeros((32, 2))
    step = jax.jit(lambda s, r, key: g_step(s, Batch(r), key))
    compiled = step.lower(state, real, jax.random.PRNGKey(0)).compile()
    temporaries = compiled.memory_analysis().temp_size_in_bytes
    estimate = unroll_memory_bytes(state.discriminator, state.d_params, real.shape, k)
    assert 0.5 <= estimate / temporaries <= 2.0, (estimate, temporaries)
