"""The relativistic pairing loss (RpGAN; Huang et al. 2024's non-saturating form) against its
formula, its hand-derived gradients, a hand-written jax.grad of one training step, and the
combinations it refuses.

Notation: B pairs (x_i, G(z_i)), r_i = D(x_i) and f_i = D(G(z_i)) the logits,
s = sigmoid, softplus(t) = log(1 + e^t) (so softplus' = s):

    L_D = 1/B sum_i softplus(f_i - r_i),      L_G = 1/B sum_i softplus(r_i - f_i),
    dL_D/df_i = s(f_i - r_i) / B = -dL_D/dr_i,  dL_G/df_i = -s(r_i - f_i) / B = -dL_G/dr_i,

and, since softplus(t) - softplus(-t) = t, L_D - L_G = mean(f) - mean(r) exactly.
"""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from cli_checks import assert_one_line_error, run_cli
from tiny_config import TINY_TOY

from gan_jax.core import losses
from gan_jax.core.objective import GANObjective
from gan_jax.core.state import Batch, apply_discriminator, apply_generator, create_state, sample_latent
from gan_jax.core.steps import d_step as pure_d_step
from gan_jax.core.steps import g_step as pure_g_step
from gan_jax.models import MLPDiscriminator, MLPGenerator

RNG = np.random.default_rng(7)
REAL = RNG.normal(size=12) * 3
FAKE = RNG.normal(size=12) * 3
EXTREME_REAL = np.array([-100.0, -50.0, 0.0, 3.0, 100.0, 100.0])
EXTREME_FAKE = np.array([100.0, 0.0, -50.0, 3.0, -100.0, 100.0])


def _softplus(t):
    return np.logaddexp(0.0, np.asarray(t, np.float64))


def _sigmoid(t):
    return 1.0 / (1.0 + np.exp(-np.asarray(t, np.float64)))


@pytest.mark.parametrize("shape", [(12,), (12, 1)])
def test_losses_equal_the_formula(shape):
    real, fake = jnp.asarray(REAL.reshape(shape), jnp.float32), jnp.asarray(FAKE.reshape(shape), jnp.float32)
    np.testing.assert_allclose(losses.D_LOSSES["rpgan"](real, fake), np.mean(_softplus(FAKE - REAL)), rtol=1e-6)
    np.testing.assert_allclose(losses.PAIRED_G_LOSSES["rpgan"](real, fake), np.mean(_softplus(REAL - FAKE)),
                               rtol=1e-6)
    # softplus(t) - softplus(-t) = t: the two costs differ by mean(f) - mean(r), whatever the pairing.
    difference = losses.relativistic_pairing_discriminator(real, fake) - losses.relativistic_pairing_generator(real, fake)
    np.testing.assert_allclose(difference, np.mean(FAKE) - np.mean(REAL), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("real,fake", [(REAL, FAKE), (EXTREME_REAL, EXTREME_FAKE)], ids=["normal", "extreme"])
def test_gradients_equal_the_hand_derived_ones(real, fake):
    b = len(real)
    r, f = jnp.asarray(real, jnp.float32), jnp.asarray(fake, jnp.float32)
    d_value, (d_real, d_fake) = jax.value_and_grad(losses.relativistic_pairing_discriminator, argnums=(0, 1))(r, f)
    g_value, (g_real, g_fake) = jax.value_and_grad(losses.relativistic_pairing_generator, argnums=(0, 1))(r, f)
    assert np.isfinite(d_value) and np.isfinite(g_value)   # softplus(200) is 200, not inf
    np.testing.assert_allclose(d_fake, _sigmoid(fake - real) / b, rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(d_real, -_sigmoid(fake - real) / b, rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(g_fake, -_sigmoid(real - fake) / b, rtol=1e-5, atol=1e-30)
    np.testing.assert_allclose(g_real, _sigmoid(real - fake) / b, rtol=1e-5, atol=1e-30)


def test_pairing_order_matters_except_in_the_symmetric_cases():
    real, fake = jnp.asarray(REAL, jnp.float32), jnp.asarray(FAKE, jnp.float32)
    perm = np.roll(np.arange(len(REAL)), 1)
    for loss in (losses.relativistic_pairing_discriminator, losses.relativistic_pairing_generator):
        # Another pairing: another loss (softplus is not linear, so the pairs do not average out)...
        assert abs(float(loss(real, fake[perm])) - float(loss(real, fake))) > 1e-3
        # ...one permutation of both batches: the same pairs, the same loss...
        np.testing.assert_allclose(loss(real[perm], fake[perm]), loss(real, fake), rtol=1e-6)
        # ...and with every real logit equal, every pairing is the same.
        flat = jnp.full_like(real, 0.7)
        np.testing.assert_allclose(loss(flat, fake[perm]), loss(flat, fake), rtol=1e-6)


def test_unpaired_shapes_are_a_value_error():
    with pytest.raises(ValueError, match="pairs real and fake logits one to one"):
        losses.relativistic_pairing_discriminator(jnp.zeros(4), jnp.zeros(5))
    with pytest.raises(ValueError, match="pairs real and fake logits one to one"):
        losses.relativistic_pairing_generator(jnp.zeros((4, 1)), jnp.zeros(4))


# ---- one training step on a tiny MLP against a hand-written jax.grad of the formula ----

LR, GAMMA_1, GAMMA_2, B = 0.1, 0.7, 0.3, 8
d_step, g_step = jax.jit(pure_d_step), jax.jit(pure_g_step)   # compiled: faster than op by op
X = jnp.asarray(np.random.default_rng(1).normal(size=(B, 2)), jnp.float32)


def _state(objective):
    return create_state(jax.random.PRNGKey(0), MLPGenerator((2,), 8, 1, "linear"), MLPDiscriminator(8, 1),
                        optax.sgd(LR), optax.sgd(LR), latent_dim=3, data_shape=(2,), objective=objective)


def _hand_d_loss(state, d_params, fake):
    logit = lambda x: apply_discriminator(state, d_params, {}, x[None])[0].reshape(())   # noqa: E731
    r, f = jax.vmap(logit)(X), jax.vmap(logit)(fake)
    sq_norms = lambda xs: jax.vmap(lambda x: jnp.sum(jax.grad(logit)(x) ** 2))(xs)   # noqa: E731
    return (jnp.mean(jax.nn.softplus(f - r)) + GAMMA_1 / 2 * jnp.mean(sq_norms(X))
            + GAMMA_2 / 2 * jnp.mean(sq_norms(fake)))


def test_steps_equal_sgd_on_the_hand_written_loss():
    state = _state(GANObjective("rpgan", "rpgan", r1_weight=GAMMA_1, r2_weight=GAMMA_2))
    key = jax.random.PRNGKey(5)
    # d_step draws its fakes from split(key)[0]; g_step from key itself (no unrolling).
    fake = apply_generator(state, state.g_params, sample_latent(jax.random.split(key)[0], B, 3))[0]
    hand_grad = jax.jit(jax.grad(lambda dp: _hand_d_loss(state, dp, fake)))
    expected = jax.tree.map(lambda p, g: p - LR * g, state.d_params, hand_grad(state.d_params))
    moved, metrics = d_step(state, Batch(X), key)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), moved.d_params, expected)
    np.testing.assert_allclose(metrics["d_loss"], _hand_d_loss(state, state.d_params, fake), rtol=1e-5)

    z = sample_latent(key, B, 3)

    def hand_g_loss(g_params):
        logit = lambda x: apply_discriminator(state, state.d_params, {}, x)[0]   # noqa: E731
        return jnp.mean(jax.nn.softplus(logit(X) - logit(apply_generator(state, g_params, z)[0])))

    expected = jax.tree.map(lambda p, g: p - LR * g, state.g_params, jax.grad(hand_g_loss)(state.g_params))
    moved, metrics = g_step(state, Batch(X), key)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7), moved.g_params, expected)
    np.testing.assert_allclose(metrics["g_loss"], hand_g_loss(state.g_params), rtol=1e-5)
    # The generator's loss reads the real batch: other real data, another update.
    other, _ = g_step(state, Batch(X[::-1]), key)
    assert not np.allclose(jax.tree.leaves(other.g_params)[0], jax.tree.leaves(moved.g_params)[0])


# ---- what it refuses: in the core a ValueError, on the command line one line and status 2 ----

REFUSALS = [
    (dict(d_loss="rpgan"), ["d_loss='rpgan' and g_loss='nonsaturating' do not combine",
                            "set d_loss=rpgan and g_loss=rpgan"]),
    (dict(g_loss="rpgan"), ["d_loss='bce' and g_loss='rpgan' do not combine"]),
    (dict(d_loss="hinge", g_loss="rpgan"), ["d_loss='hinge' and g_loss='rpgan' do not combine"]),
    (dict(d_loss="rpgan", g_loss="rpgan", feature_matching=True),
     ["feature_matching replaces the generator's loss"]),
    (dict(d_loss="rpgan", g_loss="rpgan", label_smoothing=0.1), ["label_smoothing applies to d_loss='bce' only"]),
]


@pytest.mark.parametrize("options,fragments", REFUSALS)
def test_options_it_cannot_take_are_a_value_error_in_the_core(options, fragments):
    with pytest.raises(ValueError, match=re.escape(fragments[0])):
        GANObjective(**options)


@pytest.mark.parametrize("options,fragments", REFUSALS[:2] + REFUSALS[3:4])
def test_options_it_cannot_take_are_one_line_from_the_command_line(options, fragments, capsys, tmp_path):
    overrides = [f"{k}={str(v).lower()}" for k, v in options.items()]
    code, _, err = run_cli(capsys, "train", "--config", "gaussian1d", *TINY_TOY, "steps=1", *overrides,
                           "--runs-dir", str(tmp_path))
    assert_one_line_error(code, err, "gan-jax train: error:", *fragments)
    assert not any(tmp_path.iterdir())   # refused before a run folder was made
