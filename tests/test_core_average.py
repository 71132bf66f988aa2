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


def test_batch_statistics_are_averaged_too_and_sampling_uses_the_average():
    decay = 0.5
    state = create_state(jax.random.PRNGKey(0), MLPGenerator((2,), 16, 2, "linear", norm="batch"),
                         MLPDiscriminator(16, 2), optax.adam(1e-2, 0.5), optax.adam(1e-2, 0.5),
                         latent_dim=4, data_shape=(2,), g_average_decay=decay)
    assert state.g_batch_stats
    real = REAL
    before = _leaves(state.g_average["batch_stats"])
    state, _ = train_step(state, Batch(real), jax.random.PRNGKey(3))
    for got, old, new in zip(_leaves(state.g_average["batch_stats"]), before, _leaves(state.g_batch_stats)):
        np.testing.assert_allclose(got, decay * old + (1 - decay) * new, rtol=1e-5, atol=1e-6)
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
