"""gan_jax.config.build: assembling a run from a Config (batches per step, data shape,
models, learning-rate schedules, optimisers, objective, initial state). Every refusal
is a one-line UserError; nothing here trains or compiles a step."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from cli_checks import refused
from tiny_config import TINY_TOY

from gan_jax import models
from gan_jax.config.build import (
    batches_per_step,
    build_models,
    build_objective,
    build_optimizers,
    check_config,
    data_shape,
    init_state,
    learning_rate,
)
from gan_jax.config.schema import Config, get_config
from gan_jax.core.objective import GANObjective
from gan_jax.models.conditional import ConditionalDiscriminator, ConditionalGenerator
from gan_jax.models.layers import NORMS


def _toy(**changes) -> Config:
    return dataclasses.replace(get_config("gaussian1d", TINY_TOY), **changes)


def _image(**changes) -> Config:
    return dataclasses.replace(Config(), **changes)


# ---- batches_per_step, data_shape ----

@pytest.mark.parametrize("d_steps,naive,expected", [(1, False, 1), (3, False, 3), (5, False, 5),
                                                    (3, True, 1), (1, True, 1)])
def test_batches_per_step(d_steps, naive, expected):
    assert batches_per_step(_image(d_steps=d_steps, naive=naive)) == expected


@pytest.mark.parametrize("changes,shape", [
    (dict(data="gaussian1d"), (1,)), (dict(data="ring8"), (2,)), (dict(data="grid25"), (2,)),
    (dict(data="digits"), (8, 8, 1)),
    (dict(data="stacked_digits", image_size=8, channels=3), (8, 8, 3)),
    (dict(data="npz:x.npz", image_size=28, channels=3), (28, 28, 3)),
    (dict(data="folder:pics", image_size=64, channels=1), (64, 64, 1)),
    (dict(data="tfds:cifar10", image_size=32, channels=3), (32, 32, 3)),
    # the toys' shape does not depend on the image keys
    (dict(data="ring8", image_size=64, channels=3), (2,)),
])
def test_data_shape(changes, shape):
    assert data_shape(_image(**changes)) == shape


# ---- build_models ----

def test_build_models_mlp_uses_the_config():
    gen, disc = build_models(_toy(mlp_hidden=16, mlp_depth=3, mlp_d_hidden=0, mlp_d_depth=0))
    assert isinstance(gen, models.MLPGenerator) and isinstance(disc, models.MLPDiscriminator)
    assert tuple(gen.data_shape) == (1,) and gen.hidden == 16 and gen.depth == 3
    assert disc.hidden == 16 and disc.depth == 3        # 0 = the generator's width and depth
    gen, disc = build_models(_toy(mlp_hidden=16, mlp_depth=3, mlp_d_hidden=7, mlp_d_depth=1))
    assert disc.hidden == 7 and disc.depth == 1


def test_build_models_dcgan_uses_the_config():
    gen, disc = build_models(_image(image_size=28, channels=3, g_width=4, d_width=5, norm="layer"))
    assert isinstance(gen, models.DCGANGenerator) and isinstance(disc, models.DCGANDiscriminator)
    assert (gen.image_size, gen.channels, gen.width, gen.norm) == (28, 3, 4, "layer")
    assert (disc.image_size, disc.width, disc.norm) == (28, 5, "layer")
    gen, _ = build_models(_image(compute_dtype="bfloat16"))
    assert jnp.dtype(gen.dtype) == jnp.bfloat16


def test_build_models_packs_and_conditions():
    _, disc = build_models(_toy(pack=4, batch_size=32))
    assert isinstance(disc, models.PackedDiscriminator) and disc.pack == 4
    gen, disc = build_models(_image(conditional="projection", num_classes=7, label_embedding="embed"))
    assert isinstance(gen, ConditionalGenerator) and isinstance(disc, ConditionalDiscriminator)
    assert gen.num_classes == 7 and gen.label_embedding == "embed"
    assert disc.num_classes == 7 and disc.conditioning == "projection"


@pytest.mark.parametrize("config,fragments", [
    (_image(model="resnet"), ("'resnet'", "dcgan or mlp")),
    (_image(norm="group"), ("'group'",) + tuple(NORMS)),
    (_image(image_size=16), ("16", "image_size")),
    (_image(image_size=48), ("48",)),
    (_image(compute_dtype="float16"), ("'float16'", "float32 or bfloat16")),
    (_image(data="ring8"), ("'ring8'", "model=mlp")),
    (_image(data="gaussian1d"), ("'gaussian1d'", "model=mlp")),
    (_toy(model="dcgan"), ("'gaussian1d'", "model=mlp")),
    (_toy(pack=3, batch_size=32), ("batch_size=32", "packs of 3")),
    (_image(pack=2, conditional="concat"), ("pack > 1", "conditional=none")),
    (_image(conditional="film"), ("'film'", "concat", "projection", "acgan")),
    (_image(conditional="concat", label_embedding="bag"), ("'bag'", "onehot", "embed")),
    (_image(conditional="concat", num_classes=1), ("num_classes >= 2",)),
])
def test_build_models_refusals(config, fragments):
    refused(lambda: build_models(config), *fragments)


def test_dcgan_sizes_listed_in_the_refusal_are_accepted():
    from gan_jax.models.dcgan import SUPPORTED_SIZES
    message = refused(lambda: build_models(_image(image_size=16)))
    for size in SUPPORTED_SIZES:
        assert str(size) in message
        build_models(_image(image_size=size))


# ---- learning rates ----

def _cosine(peak, t, total):
    return peak * (1 + math.cos(math.pi * t / total)) / 2


def test_a_constant_rate_is_the_peak():
    assert learning_rate(_toy(lr_schedule="constant"), 3e-4, 1000) == 3e-4


@pytest.mark.parametrize("total", [1, 2, 10, 1000, 24000])
def test_the_cosine_rate_follows_its_closed_form(total):
    peak = 3e-3
    rate = learning_rate(_toy(lr_schedule="cosine"), peak, total)
    for t in sorted({0, total // 4, total // 2, (3 * total) // 4, total}):
        assert float(rate(t)) == pytest.approx(_cosine(peak, t, total), rel=1e-5, abs=1e-12), t
    assert float(rate(0)) == pytest.approx(peak, rel=1e-6)
    assert float(rate(total)) == pytest.approx(0.0, abs=1e-12)
    if total % 2 == 0:
        assert float(rate(total // 2)) == pytest.approx(peak / 2, rel=1e-5)


def test_the_cosine_rate_stays_at_zero_after_the_run():
    rate = learning_rate(_toy(lr_schedule="cosine"), 1e-3, 100)
    for t in (101, 150, 200, 1000):
        assert float(rate(t)) == pytest.approx(0.0, abs=1e-12)


def test_an_unknown_schedule_isrefused():
    refused(lambda: learning_rate(_toy(lr_schedule="linear"), 1e-3, 10), "'linear'", "constant", "cosine")


# ---- build_optimizers ----

def test_equal_settings_give_the_same_optimizer_objects():
    a = build_optimizers(get_config("gaussian1d", TINY_TOY))
    b = build_optimizers(get_config("gaussian1d", TINY_TOY))
    assert a[0] is b[0] and a[1] is b[1]
    # a constant rate does not depend on the run's length
    c = build_optimizers(get_config("gaussian1d", TINY_TOY + ["steps=17", "d_steps=3"]))
    assert c[0] is a[0] and c[1] is a[1]


def test_different_settings_give_different_optimizer_objects():
    base = build_optimizers(_toy())
    for changes in (dict(lr_g=5e-4), dict(lr_d=5e-4), dict(beta1=0.9), dict(beta2=0.99),
                    dict(lr_schedule="cosine")):
        other = build_optimizers(_toy(**changes))
        assert (other[0], other[1]) != (base[0], base[1]), changes
    # with a cosine rate the length matters
    short = build_optimizers(_toy(lr_schedule="cosine", steps=10))
    long = build_optimizers(_toy(lr_schedule="cosine", steps=20))
    assert short[0] is not long[0] and short[1] is not long[1]
    assert build_optimizers(_toy(lr_schedule="cosine", steps=10))[0] is short[0]


def _adam_updates(tx, grads):
    """The updates of ``tx`` for a scalar parameter fed ``grads`` one after the other (eager)."""
    params = jnp.zeros(())
    state = tx.init(params)
    out = []
    for g in grads:
        update, state = tx.update(jnp.asarray(g, jnp.float32), state, params)
        out.append(float(update))
    return out


def test_optimizers_are_adam_with_the_config_rates_and_betas():
    lr_g, lr_d, b1, b2 = 0.1, 0.02, 0.5, 0.9
    g_tx, d_tx = build_optimizers(_toy(lr_g=lr_g, lr_d=lr_d, beta1=b1, beta2=b2))
    # a constant gradient: every bias-corrected Adam step is -lr
    assert _adam_updates(g_tx, [1.0]) == pytest.approx([-lr_g], rel=1e-5)
    assert _adam_updates(d_tx, [1.0]) == pytest.approx([-lr_d], rel=1e-5)
    # gradients 1 then 0: m_hat = (1-b1) b1 / (1-b1^2), v_hat = (1-b2) b2 / (1-b2^2)
    m_hat = (1 - b1) * b1 / (1 - b1 ** 2)
    v_hat = (1 - b2) * b2 / (1 - b2 ** 2)
    assert _adam_updates(g_tx, [1.0, 0.0])[1] == pytest.approx(-lr_g * m_hat / math.sqrt(v_hat), rel=1e-4)


def test_cosine_runs_over_steps_for_g_and_steps_times_d_steps_for_d():
    peak, steps, d_steps = 0.1, 2, 2
    g_tx, d_tx = build_optimizers(_toy(lr_g=peak, lr_d=peak, lr_schedule="cosine", steps=steps, d_steps=d_steps))
    # with a constant gradient update k is -rate(k)
    g = _adam_updates(g_tx, [1.0] * 3)
    d = _adam_updates(d_tx, [1.0] * 5)
    assert g == pytest.approx([-_cosine(peak, k, steps) for k in range(3)], rel=1e-4, abs=1e-9)
    assert d == pytest.approx([-_cosine(peak, k, steps * d_steps) for k in range(5)], rel=1e-4, abs=1e-9)
    # the naive algorithm takes one D update per G step
    _, d_naive = build_optimizers(_toy(lr_d=peak, lr_schedule="cosine", steps=steps, d_steps=d_steps, naive=True))
    assert _adam_updates(d_naive, [1.0] * 3) == pytest.approx([-_cosine(peak, k, steps) for k in range(3)],
                                                              rel=1e-4, abs=1e-9)


# ---- build_objective ----

def test_build_objective_carries_the_config():
    objective = build_objective(_toy(d_loss="hinge", g_loss="hinge", gp_weight=2.0, r1_weight=0.5,
                                     unroll_steps=3, unroll_objective="minimax", weight_clip=0.01))
    assert isinstance(objective, GANObjective)
    assert (objective.d_loss, objective.g_loss) == ("hinge", "hinge")
    assert (objective.gp_weight, objective.r1_weight) == (2.0, 0.5)
    assert (objective.unroll_steps, objective.unroll_objective, objective.weight_clip) == (3, "minimax", 0.01)


@pytest.mark.parametrize("changes,fragments", [
    (dict(d_loss="bogus"), ("'bogus'",)),
    (dict(g_loss="bogus"), ("'bogus'",)),
    (dict(d_loss="wasserstein", g_loss="wasserstein", label_smoothing=0.1), ("label_smoothing",)),
    (dict(unroll_objective="minimax"), ("unroll_steps >= 1",)),
    (dict(unroll_shared_latent=True), ("unroll_steps >= 1",)),
    (dict(unroll_steps=2, unroll_objective="minimax", feature_matching=True), ("feature_matching",)),
    (dict(unroll_steps=2, consensus_weight=1.0), ("consensus_weight", "unroll_steps")),
    (dict(naive=True, simultaneous=True), ("simultaneous=true", "naive=false")),
])
def test_build_objective_errors_are_user_errors(changes, fragments):
    refused(lambda: build_objective(_toy(**changes)), *fragments)


# ---- check_config and init_state ----

def test_check_config_returns_the_config_or_refuses():
    config = _toy()
    assert check_config(config) is config
    refused(lambda: check_config(_toy(pack=3)), "packs of 3")
    refused(lambda: check_config(_toy(steps=0)), "'steps'")
    refused(lambda: check_config(_toy(naive=True, simultaneous=True)), "simultaneous")


def test_init_state_refuses_a_bad_config_before_any_work():
    refused(lambda: init_state(_toy(pack=3)), "packs of 3")


def test_init_state_of_the_tiny_toy():
    """Shapes through ``jax.eval_shape`` (tracing init_state, not running it: eager
    initialisation compiles dozens of small XLA programs, about 3 s on CPU)."""
    config = get_config("gaussian1d", TINY_TOY)          # latent 4, 2 hidden layers of 16, no norm
    state = jax.eval_shape(lambda key: init_state(config, key), jax.random.PRNGKey(config.seed))
    assert state.step.shape == () and jnp.issubdtype(state.step.dtype, jnp.integer)
    assert state.latent_dim == 4 and state.latent_dist == "normal"
    g = jax.tree.map(lambda x: tuple(x.shape), state.g_params)
    d = jax.tree.map(lambda x: tuple(x.shape), state.d_params)
    assert g == {"hidden_0": {"kernel": (4, 16), "bias": (16,)}, "hidden_1": {"kernel": (16, 16), "bias": (16,)},
                 "output": {"kernel": (16, 1), "bias": (1,)}}
    assert d == {"hidden_0": {"kernel": (1, 16), "bias": (16,)}, "hidden_1": {"kernel": (16, 16), "bias": (16,)},
                 "output": {"kernel": (16, 1), "bias": (1,)}}
    assert all(x.dtype == jnp.float32 for x in jax.tree.leaves((state.g_params, state.d_params)))
    assert state.g_batch_stats == {} and state.d_batch_stats == {}
    # the state's static parts are the ones build_* give for this config
    g_tx, d_tx = build_optimizers(config)
    assert state.g_tx is g_tx and state.d_tx is d_tx
    assert state.objective == build_objective(config)
    assert isinstance(state.generator, models.MLPGenerator) and isinstance(state.discriminator, models.MLPDiscriminator)
    # Adam's moments have the parameters' shapes
    for opt_state, params in ((state.g_opt_state, state.g_params), (state.d_opt_state, state.d_params)):
        adam = next(s for s in jax.tree.leaves(opt_state, is_leaf=lambda s: isinstance(s, optax.ScaleByAdamState))
                    if isinstance(s, optax.ScaleByAdamState))
        assert jax.tree.map(np.shape, adam.mu) == jax.tree.map(np.shape, params)
        assert jax.tree.map(np.shape, adam.nu) == jax.tree.map(np.shape, params)


def test_init_state_of_a_packed_batch_norm_toy_has_batch_stats():
    config = _toy(pack=4, norm="batch", mlp_d_hidden=8)
    state = jax.eval_shape(lambda key: init_state(config, key), jax.random.PRNGKey(0))
    # G: Dense layers without bias before each batch norm; D sees packs of 4 one-dimensional samples
    assert tuple(state.g_params["hidden_0"]["kernel"].shape) == (4, 16)
    assert "bias" not in state.g_params["hidden_0"]
    assert sorted(state.g_batch_stats) == ["norm_0", "norm_1"]
    assert sorted(tuple(x.shape) for x in jax.tree.leaves(state.g_batch_stats)) == [(16,)] * 4   # mean, var
    assert tuple(state.d_params["base"]["hidden_0"]["kernel"].shape) == (4, 8)
    assert tuple(state.d_params["base"]["output"]["kernel"].shape) == (8, 1)
