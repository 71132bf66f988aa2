"""The generator's exponential moving average: the recurrence, where it is applied, and its bounds."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.core import steps as core_steps
from gan_jax.core.objective import GANObjective
from gan_jax.core.state import (
    Batch,
    apply_generator,
    averaged_generator,
    create_state,
    init_generator_average,
    recalibrate_average_statistics,
    sample_latent,
)
from gan_jax.models import MLPDiscriminator, MLPGenerator

REAL = jnp.asarray(np.random.default_rng(0).normal(size=(1, 32, 2)), jnp.float32)
train_step = jax.jit(core_steps.train_step)


def _state(decay, objective=GANObjective()):
    return create_state(jax.random.PRNGKey(0), MLPGenerator((2,), 16, 2, "linear"), MLPDiscriminator(16, 2),
                        optax.adam(1e-2, 0.5), optax.adam(1e-2, 0.5), latent_dim=4, data_shape=(2,),
                        objective=objective, g_average_decay=decay)


def _leaves(tree):
    return [np.asarray(x, np.float64) for x in jax.tree.leaves(tree)]


@pytest.mark.parametrize("simultaneous", [False, True])
def test_the_average_follows_the_numpy_recurrence(simultaneous):
    decay = 0.8
    state = _state(decay, GANObjective(simultaneous=simultaneous))
    expected = _leaves(state.g_params)            # a_0 = theta_0
    for t in range(6):
        state, _ = train_step(state, Batch(REAL), jax.random.PRNGKey(t))
        theta = _leaves(state.g_params)
        expected = [decay * a + (1 - decay) * p for a, p in zip(expected, theta)]
        for got, want in zip(_leaves(state.g_average["params"]), expected):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    assert not all(np.array_equal(a, b) for a, b in zip(_leaves(state.g_average["params"]), _leaves(state.g_params)))


def test_the_averaged_generator_keeps_its_own_batch_statistics_and_sampling_uses_them():
    """After a G step, the average's first batch-norm layer holds 0.9 old + 0.1 (the batch
    mean and variance of z K_a), where K_a is the *averaged* first kernel and z the step's
    latents: the running statistics of the averaged generator (momentum 0.9), not an
    average of the raw generator's statistics."""
    decay = 0.5
    state = create_state(jax.random.PRNGKey(0), MLPGenerator((2,), 16, 2, "linear", norm="batch"),
                         MLPDiscriminator(16, 2), optax.adam(1e-2, 0.5), optax.adam(1e-2, 0.5),
                         latent_dim=4, data_shape=(2,), g_average_decay=decay)
    assert state.g_batch_stats
    old = state.g_average["batch_stats"]["norm_0"]["batch_norm"]
    old_mean, old_var = np.asarray(old["mean"], np.float64), np.asarray(old["var"], np.float64)
    step_key = jax.random.PRNGKey(3)
    state, _ = jax.jit(core_steps.g_step)(state, Batch(REAL[0]), step_key)
    z = np.asarray(sample_latent(step_key, REAL.shape[1], 4), np.float64)
    h = z @ np.asarray(state.g_average["params"]["hidden_0"]["kernel"], np.float64)
    new = state.g_average["batch_stats"]["norm_0"]["batch_norm"]
    np.testing.assert_allclose(new["mean"], 0.9 * old_mean + 0.1 * h.mean(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(new["var"], 0.9 * old_var + 0.1 * h.var(0), rtol=1e-4, atol=1e-5)
    raw = _leaves(state.g_batch_stats)
    assert not all(np.allclose(a, b) for a, b in zip(_leaves(state.g_average["batch_stats"]), raw))
    key = jax.random.PRNGKey(9)
    z = sample_latent(key, 5, 4)
    want = apply_generator(averaged_generator(state), state.g_average["params"], z, train=False)[0]
    np.testing.assert_allclose(core_steps.generate(state, key, 5), want, atol=1e-6)
    raw = apply_generator(state, state.g_params, z, train=False)[0]
    np.testing.assert_allclose(core_steps.generate(state, key, 5, averaged=False), raw, atol=1e-6)
    assert np.max(np.abs(want - raw)) > 1e-3


def test_decay_zero_keeps_no_average_and_changes_no_bit():
    off = _state(0.0)
    assert off.g_average is None and averaged_generator(off) is off
    plain = create_state(jax.random.PRNGKey(0), MLPGenerator((2,), 16, 2, "linear"), MLPDiscriminator(16, 2),
                         optax.adam(1e-2, 0.5), optax.adam(1e-2, 0.5), latent_dim=4, data_shape=(2,))
    a, _ = train_step(off, Batch(REAL), jax.random.PRNGKey(1))
    b, _ = train_step(plain, Batch(REAL), jax.random.PRNGKey(1))
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.parametrize("decay", [-0.1, 1.0, 1.5, float("nan")])
def test_a_decay_outside_zero_one_is_refused(decay):
    with pytest.raises(ValueError, match=r"decay must be in \[0, 1\)"):
        init_generator_average(_state(0.0), decay)


def test_recalibration_measures_the_average_s_own_population_statistics():
    """For z ~ N(0, I) and the average's first kernel K (no bias before batch norm), the first
    layer's population mean is 0 and its variance the column sums of K^2. After K_b passes at
    momentum m the stored statistics keep weight m^K_b, so E[stats] = m^K_b old + (1 - m^K_b) true;
    the tolerance is five standard errors of the about 19 * 1024 latents the passes weigh."""
    state = create_state(jax.random.PRNGKey(0), MLPGenerator((2,), 16, 2, "linear", norm="batch"),
                         MLPDiscriminator(16, 2), optax.adam(1e-2, 0.5), optax.adam(1e-2, 0.5),
                         latent_dim=4, data_shape=(2,), g_average_decay=0.9)
    kernel = np.asarray(state.g_average["params"]["hidden_0"]["kernel"], np.float64)
    true_var = (kernel ** 2).sum(0)
    far = jax.tree.map(lambda x: jnp.full_like(x, 7.0), state.g_average["batch_stats"])
    state = state.replace(g_average={"params": state.g_average["params"], "batch_stats": far})
    out = recalibrate_average_statistics(state, jax.random.PRNGKey(5), batches=32, batch_size=1024)
    stats = out.g_average["batch_stats"]["norm_0"]["batch_norm"]
    kept = 0.9 ** 32
    samples = 19 * 1024
    np.testing.assert_allclose(stats["mean"], kept * 7.0, atol=5 * np.sqrt(true_var / samples).max())
    np.testing.assert_allclose(stats["var"], kept * 7.0 + (1 - kept) * true_var,
                               atol=5 * np.sqrt(2 / samples) * true_var.max())
    for got, want in zip(_leaves((out.g_params, out.g_batch_stats, out.g_average["params"])),
                         _leaves((state.g_params, state.g_batch_stats, state.g_average["params"]))):
        np.testing.assert_array_equal(got, want)        # only the average's statistics change
    off = _state(0.0)
    assert recalibrate_average_statistics(off, jax.random.PRNGKey(5)) is off            # nothing to measure
