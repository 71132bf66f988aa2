"""PacGAN packing, the MLP options of the 2-D benchmark (normalised generator,
separate discriminator size) and the cosine learning-rate schedule."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.config.build import build_optimizers, init_state, learning_rate
from gan_jax.config.schema import get_config
from gan_jax.core.state import Batch
from gan_jax.core.steps import train_step
from gan_jax.errors import UserError
from gan_jax.models import (
    MLPDiscriminator,
    MLPGenerator,
    PackedDiscriminator,
    pack_samples,
)


def test_pack_samples_concatenates_consecutive_vectors():
    x = np.arange(12.0).reshape(6, 2)
    packed = np.asarray(pack_samples(jnp.asarray(x), 3))
    np.testing.assert_array_equal(packed, np.stack([np.concatenate(x[0:3]), np.concatenate(x[3:6])]))


def test_pack_samples_stacks_image_channels():
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 5, 5, 3))
    packed = pack_samples(x, 2)
    assert packed.shape == (2, 5, 5, 6)
    for i in range(2):
        for j in range(2):
            # feature j*C + c of pack i is feature c of member j.
            np.testing.assert_array_equal(packed[i, ..., 3 * j:3 * j + 3], x[2 * i + j])


def test_pack_samples_refuses_a_partial_pack():
    with pytest.raises(ValueError, match="divisible by 3"):
        pack_samples(jnp.zeros((4, 2)), 3)


def test_packed_discriminator_is_the_base_on_the_packs():
    base = MLPDiscriminator(hidden=16, depth=2)
    packed = PackedDiscriminator(base, 4)
    x = jax.random.normal(jax.random.PRNGKey(1), (8, 2))
    variables = packed.init(jax.random.PRNGKey(2), x)
    logits = packed.apply(variables, x)
    assert logits.shape == (2,)
    # The same parameters score the concatenated packs through the bare base.
    direct = base.apply({"params": variables["params"]["base"]}, x.reshape(2, 8))
    np.testing.assert_allclose(logits, direct, rtol=1e-6)


@pytest.mark.parametrize("overrides,message", [
    (["pack=0"], "config key .pack. in overrides got 0: must be >= 1"),
    (["pack=3", "batch_size=64"], "divisible by 3"),
    (["pack=2", "conditional=concat", "data=digits", "model=dcgan"], "unconditional"),
])
def test_bad_packing_is_a_user_error(overrides, message):
    with pytest.raises(UserError, match=message):
        init_state(get_config("ring8", overrides))


def test_one_packed_train_step_on_the_ring_updates_a_discriminator_of_m_samples():
    config = get_config("ring8", ["pack=4", "batch_size=32", "mlp_hidden=16", "latent_dim=4",
                                  "norm=batch"])
    state = init_state(config)
    real = jax.random.normal(jax.random.PRNGKey(3), (1, 32, 2))
    new, metrics = jax.jit(train_step)(state, Batch(real), jax.random.PRNGKey(4))
    assert all(np.isfinite(float(v)) for v in metrics.values())
    # D's input layer sees 4 samples of 2 coordinates.
    assert new.d_params["base"]["hidden_0"]["kernel"].shape == (8, 16)
    assert not jax.tree.all(jax.tree.map(jnp.array_equal, new.d_params, state.d_params))


def test_normalised_mlp_generator_has_no_hidden_bias_and_batch_statistics():
    g = MLPGenerator((2,), hidden=8, depth=3, norm="batch")
    variables = g.init(jax.random.PRNGKey(0), jnp.ones((4, 3)))
    for i in range(3):
        assert set(variables["params"][f"hidden_{i}"]) == {"kernel"}
        assert set(variables["batch_stats"][f"norm_{i}"]["batch_norm"]) == {"mean", "var"}
    assert set(variables["params"]["output"]) == {"kernel", "bias"}
    plain = MLPGenerator((2,), hidden=8, depth=3).init(jax.random.PRNGKey(0), jnp.ones((4, 3)))
    assert "batch_stats" not in plain and "bias" in plain["params"]["hidden_0"]


def test_discriminator_size_can_differ_from_the_generator():
    state = init_state(get_config("ring8", ["mlp_hidden=16", "mlp_depth=5", "mlp_d_hidden=8",
                                            "mlp_d_depth=2", "latent_dim=4"]))
    assert sorted(k for k in state.g_params if k.startswith("hidden")) == [f"hidden_{i}" for i in range(5)]
    assert sorted(k for k in state.d_params if k.startswith("hidden")) == ["hidden_0", "hidden_1"]
    assert state.d_params["hidden_1"]["kernel"].shape == (8, 8)


def test_cosine_schedule_follows_the_formula_and_counts_d_updates():
    config = get_config("ring8", ["lr_schedule=cosine", "steps=100", "d_steps=2", "lr_d=1e-3"])
    schedule = learning_rate(config, 1e-3, 200)
    for t in (0, 50, 100, 150, 200):
        np.testing.assert_allclose(schedule(t), 1e-3 * (1 + np.cos(np.pi * t / 200)) / 2, rtol=1e-5, atol=1e-12)
    # Adam's first update has size lr_0 per coordinate; the schedule's last one is 0.
    _, d_tx = build_optimizers(config)
    params = {"w": jnp.zeros(3)}
    state = d_tx.init(params)
    updates, state = d_tx.update({"w": jnp.ones(3)}, state, params)
    np.testing.assert_allclose(updates["w"], -1e-3, rtol=1e-4)
    assert learning_rate(get_config("ring8"), 2e-4, 10) == 2e-4
    with pytest.raises(UserError, match="lr_schedule"):
        learning_rate(get_config("ring8", ["lr_schedule=step"]), 1e-3, 10)
