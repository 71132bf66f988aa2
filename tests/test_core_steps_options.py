"""The training options on an ordinary model: WGAN weight clipping,
the R2 penalty, and the validation of every option. Simultaneous updates,
instance noise and consensus optimisation are checked against closed forms in
tests/test_theory_dirac.py: the Dirac-GAN's update matrix is I + hJ only if G steps
from the old discriminator, and the instance-noise and consensus eigenvalues
need both players' terms."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.cli import main as cli_main
from gan_jax.config.build import build_objective
from gan_jax.config.schema import get_config
from gan_jax.core.objective import GANObjective
from gan_jax.core.state import (
    Batch,
    apply_discriminator,
    apply_generator,
    create_state,
    sample_latent,
)
from gan_jax.core.steps import d_step as pure_d_step
from gan_jax.errors import UserError
from gan_jax.models import MLPDiscriminator, MLPGenerator

REAL = jnp.asarray(np.random.default_rng(0).normal(size=(1, 16, 2)), jnp.float32)
# One optimiser object for every state, so states of one objective share a compiled step.
SGD = optax.sgd(0.1)


d_step = jax.jit(pure_d_step)

def _toy_state(objective=GANObjective()):
    return create_state(jax.random.PRNGKey(0), MLPGenerator((2,), 8, 1, "linear"), MLPDiscriminator(8, 1),
                        SGD, SGD, latent_dim=3, data_shape=(2,), objective=objective)


def _assert_trees_close(a, b, rtol=1e-6):
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-7), a, b)


def test_weight_clip_is_the_projection_of_the_plain_update():
    c, key = 0.05, jax.random.PRNGKey(3)
    plain, _ = d_step(_toy_state(), Batch(REAL[0]), key)
    clipped, _ = d_step(_toy_state(GANObjective(weight_clip=c)), Batch(REAL[0]), key)
    _assert_trees_close(clipped.d_params, jax.tree.map(lambda p: jnp.clip(p, -c, c), plain.d_params))
    leaves = jnp.concatenate([p.ravel() for p in jax.tree.leaves(clipped.d_params)])
    assert float(jnp.max(jnp.abs(leaves))) == pytest.approx(c)   # the clip was active


def test_r2_adds_half_gamma_times_the_squared_gradient_on_fake_data():
    gamma, key = 3.0, jax.random.PRNGKey(4)
    plain, r2 = _toy_state(), _toy_state(GANObjective(r2_weight=gamma))
    _, m_plain = d_step(plain, Batch(REAL[0]), key)
    _, m_r2 = d_step(r2, Batch(REAL[0]), key)
    z = sample_latent(jax.random.split(key)[0], 16, 3)    # d_step's fake batch
    fake, _ = apply_generator(plain, plain.g_params, z)
    logit = lambda x: apply_discriminator(plain, plain.d_params, {}, x[None])[0].reshape(())
    squared = [float(jnp.sum(jax.grad(logit)(x) ** 2)) for x in fake]   # per sample, by hand
    np.testing.assert_allclose(m_r2["d_loss"] - m_plain["d_loss"], gamma / 2 * np.mean(squared), rtol=1e-4)


@pytest.mark.parametrize("options,message", [
    (dict(r2_weight=-1.0), "r2_weight must be 0 (off) or a positive finite number"),
    (dict(instance_noise=float("nan")), "instance_noise must be 0 (off)"),
    (dict(weight_clip=float("inf")), "weight_clip must be 0 (off)"),
    (dict(consensus_weight=-0.5), "consensus_weight must be 0 (off)"),
    (dict(consensus_weight=1.0, unroll_steps=2), "cannot be combined"),
])
def test_bad_options_are_value_errors_in_the_core_and_user_errors_from_a_config(options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        GANObjective(**options)
    # From a config the schema refuses an out-of-range value first, naming the key; the core's
    # message remains for what only the core knows (options that cannot be combined).
    first = next(iter(options))
    with pytest.raises(UserError, match=f"{re.escape(message)}|config key '{first}' in overrides"):
        build_objective(get_config("gaussian1d", [f"{k}={v}" for k, v in options.items()]))


def test_naive_with_simultaneous_is_refused():
    with pytest.raises(UserError, match="simultaneous=true applies to k-step training only"):
        build_objective(get_config("gaussian1d", ["naive=true", "simultaneous=true"]))


def test_command_line_refuses_a_bad_option_in_one_line(capsys, tmp_path):
    assert cli_main(["train", "--config", "gaussian1d", "weight_clip=-1", "--runs-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "config key 'weight_clip' in overrides got -1.0: must be >= 0.0" in err
    assert err.count("\n") == 1 and "Traceback" not in err
