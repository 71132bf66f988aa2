"""The pure steps: composition, purity, determinism, no recompiles, donation,
and a 1-D Gaussian GAN that learns its target."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from gan_jax.config.build import init_state
from gan_jax.config.schema import get_config
from gan_jax.core import steps as core_steps
from gan_jax.core.objective import GANObjective
from gan_jax.core.state import Batch, apply_generator, create_state, sample_latent
from gan_jax.core.steps import generate
from gan_jax.data.toys import GAUSSIAN1D_MEAN, GAUSSIAN1D_STD
from gan_jax.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
)


# One optimiser object per player for every toy state: the optimisers are static fields compared
# by identity, so states built from these share each compiled step (and the tests compile less).
G_OPTIMIZER, D_OPTIMIZER = optax.adam(1e-3, 0.5), optax.adam(1e-3, 0.5)


def _toy_state(objective=GANObjective(), seed=0, hidden=16, fresh_optimizers=False):
    """A 2-D MLP GAN state; ``fresh_optimizers`` gives it new (equal) optax objects."""
    g_tx, d_tx = (optax.adam(1e-3, 0.5), optax.adam(1e-3, 0.5)) if fresh_optimizers else (G_OPTIMIZER, D_OPTIMIZER)
    return create_state(jax.random.PRNGKey(seed), MLPGenerator((2,), hidden, 2, "linear"),
                        MLPDiscriminator(hidden, 2), g_tx, d_tx, latent_dim=4, data_shape=(2,), objective=objective)


def _tree_equal(a, b):
    return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.array_equal(x, y)), a, b)))


def _tree_close(a, b, tol=1e-5):
    return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool(jnp.allclose(x, y, atol=tol, rtol=tol)), a, b)))


REAL = jnp.asarray(np.random.default_rng(0).normal(size=(2, 32, 2)), jnp.float32)
# The pure steps, compiled without donation (these tests reuse their input states).
d_step, g_step, train_step = jax.jit(core_steps.d_step), jax.jit(core_steps.g_step), jax.jit(core_steps.train_step)
naive_train_step = jax.jit(core_steps.naive_train_step, static_argnames=("tol", "max_d_steps"))


def test_d_step_changes_only_the_discriminator_and_leaves_input_untouched():
    state = _toy_state()
    before = jax.tree.map(jnp.copy, state)
    new, metrics = d_step(state, Batch(REAL[0]), jax.random.PRNGKey(1))
    assert _tree_equal(state, before)  # pure: the input state is unchanged
    assert _tree_equal(new.g_params, state.g_params) and _tree_equal(new.g_opt_state, state.g_opt_state)
    assert not _tree_equal(new.d_params, state.d_params)
    assert int(new.step) == int(state.step)
    assert set(metrics) == {"d_loss", "d_real", "d_fake"}
    assert 0 < float(metrics["d_real"]) < 1 and 0 < float(metrics["d_fake"]) < 1


def test_g_step_changes_only_the_generator_and_counts_steps():
    state = _toy_state()
    new, metrics = g_step(state, Batch(REAL[0]), jax.random.PRNGKey(2))
    assert _tree_equal(new.d_params, state.d_params) and _tree_equal(new.d_opt_state, state.d_opt_state)
    assert not _tree_equal(new.g_params, state.g_params)
    assert int(new.step) == int(state.step) + 1
    assert np.isfinite(float(metrics["g_loss"]))


def test_train_step_is_k_d_steps_then_one_g_step():
    state = _toy_state()
    key = jax.random.PRNGKey(7)
    fused, _ = train_step(state, Batch(REAL), key)
    d_keys = jax.random.split(jax.random.fold_in(key, 0), 2)
    manual, _ = d_step(state, Batch(REAL[0]), d_keys[0])
    manual, _ = d_step(manual, Batch(REAL[1]), d_keys[1])
    manual, _ = g_step(manual, Batch(REAL[1]), jax.random.fold_in(key, 1))
    assert _tree_close(fused.d_params, manual.d_params) and _tree_close(fused.g_params, manual.g_params)


def test_jit_and_eager_agree_and_no_recompile():
    state = _toy_state()
    eager, _ = core_steps.train_step(state, Batch(REAL), jax.random.PRNGKey(3))   # the pure function, op by op
    jitted, _ = train_step(state, Batch(REAL), jax.random.PRNGKey(3))
    assert _tree_close(eager.g_params, jitted.g_params, 1e-5)
    before = train_step._cache_size()
    train_step(jitted, Batch(REAL), jax.random.PRNGKey(4))
    assert train_step._cache_size() == before  # a new state and key reuse the compiled step


def test_an_equal_but_new_optimiser_compiles_again_and_the_same_objects_do_not():
    """The optax transformations are static fields compared by identity (documented in
    gan_jax.core.steps); build_optimizers hands out one object per setting."""
    from gan_jax.config.build import build_optimizers
    step = jax.jit(core_steps.d_step)   # shares its cache with every jax.jit of d_step in this process
    before = step._cache_size()
    step(_toy_state(fresh_optimizers=True), Batch(REAL[0]), jax.random.PRNGKey(0))
    step(_toy_state(seed=1, fresh_optimizers=True), Batch(REAL[0]), jax.random.PRNGKey(0))   # another fresh optax.adam
    assert step._cache_size() == before + 2
    config = get_config("ring8")
    assert build_optimizers(config)[0] is build_optimizers(get_config("ring8"))[0]


def test_the_jitted_steps_donate_the_input_state():
    state = _toy_state()
    new, _ = core_steps.jit_train_step(state, Batch(REAL), jax.random.PRNGKey(0))
    assert int(new.step) == 1
    assert all(leaf.is_deleted() for leaf in jax.tree.leaves(state.d_params))


def test_same_seed_same_run_different_seed_different_run():
    def run(seed):
        state = _toy_state(seed=seed)
        for i in range(3):
            state, _ = train_step(state, Batch(REAL), jax.random.PRNGKey(i))
        return state
    assert _tree_equal(run(0).g_params, run(0).g_params)
    assert not _tree_equal(run(0).g_params, run(1).g_params)


def test_naive_step_runs_discriminator_to_tolerance_or_cap():
    state = _toy_state()
    _, capped = naive_train_step(state, Batch(REAL[0]), jax.random.PRNGKey(0), tol=0.0, max_d_steps=7)
    assert int(capped["d_steps_taken"]) == 7
    _, loose = naive_train_step(state, Batch(REAL[0]), jax.random.PRNGKey(0), tol=1e9, max_d_steps=50)
    assert int(loose["d_steps_taken"]) == 2  # two losses are needed to measure a change
    _, tight = naive_train_step(state, Batch(REAL[0]), jax.random.PRNGKey(0), tol=1e-4, max_d_steps=400)
    assert 2 < int(tight["d_steps_taken"]) <= 400


@pytest.mark.parametrize("objective", [
    GANObjective("wasserstein", "wasserstein", gp_weight=10.0),
    GANObjective("bce", "nonsaturating", r1_weight=1.0),
    GANObjective("least_squares", "least_squares"),
    GANObjective("hinge", "hinge"),
    GANObjective("bce", "saturating", label_smoothing=0.1),
    GANObjective("bce", "maximum_likelihood"),
    GANObjective("bce", "nonsaturating", feature_matching=True),
])
def test_every_objective_takes_finite_steps(objective):
    state = _toy_state(objective)
    for i in range(2):
        state, metrics = train_step(state, Batch(REAL), jax.random.PRNGKey(i))
    assert all(np.isfinite(float(v)) for v in metrics.values())


def test_r1_adds_half_gamma_times_the_squared_gradient_on_real_data():
    from gan_jax.core.state import apply_discriminator
    gamma, key = 3.0, jax.random.PRNGKey(2)
    plain, r1 = _toy_state(), _toy_state(GANObjective(r1_weight=gamma))
    _, m_plain = d_step(plain, Batch(REAL[0]), key)
    _, m_r1 = d_step(r1, Batch(REAL[0]), key)
    logit = lambda x: apply_discriminator(plain, plain.d_params, {}, x[None])[0].reshape(())
    squared = [float(jnp.sum(jax.grad(logit)(x) ** 2)) for x in REAL[0]]   # per sample, by hand
    np.testing.assert_allclose(m_r1["d_loss"] - m_plain["d_loss"], gamma / 2 * np.mean(squared), rtol=1e-4)


def test_feature_matching_generator_loss_is_the_feature_distance():
    from gan_jax.core.losses import feature_matching
    from gan_jax.core.state import apply_discriminator, apply_generator, sample_latent
    state = _toy_state(GANObjective(feature_matching=True))
    key = jax.random.PRNGKey(5)
    _, metrics = g_step(state, Batch(REAL[0]), key)
    z = sample_latent(key, 32, state.latent_dim)
    fake, _ = apply_generator(state, state.g_params, z)
    (_, f_fake), _ = apply_discriminator(state, state.d_params, {}, fake, return_features=True)
    (_, f_real), _ = apply_discriminator(state, state.d_params, {}, REAL[0], return_features=True)
    np.testing.assert_allclose(metrics["g_loss"], feature_matching(f_real, f_fake), rtol=1e-5)


def test_batch_norm_statistics_update_in_training_and_generate_uses_them():
    state = create_state(jax.random.PRNGKey(0), DCGANGenerator(8, 1, 4), DCGANDiscriminator(8, 4),
                         optax.adam(1e-3), optax.adam(1e-3), latent_dim=8, data_shape=(8, 8, 1))
    real = jnp.asarray(np.random.default_rng(1).uniform(-1, 1, (1, 16, 8, 8, 1)), jnp.float32)
    new, _ = train_step(state, Batch(real), jax.random.PRNGKey(0))
    assert not _tree_equal(new.d_batch_stats, state.d_batch_stats)
    assert not _tree_equal(new.g_batch_stats, state.g_batch_stats)
    samples = generate(new, jax.random.PRNGKey(1), 5)
    assert samples.shape == (5, 8, 8, 1)
    # eval mode: each sample depends only on its own z (running averages, no
    # batch statistics), so G(z_0) alone equals the first sample of the batch;
    # in train mode a batch of one normalises by its own statistics instead.
    z = sample_latent(jax.random.PRNGKey(1), 5, new.latent_dim, new.latent_dist)
    alone, _ = apply_generator(new, new.g_params, z[:1], train=False)
    np.testing.assert_allclose(samples[:1], alone, atol=1e-6)
    in_train_mode, _ = apply_generator(new, new.g_params, z[:1], train=True)
    assert np.max(np.abs(np.asarray(in_train_mode) - np.asarray(alone))) > 1e-3


def test_gaussian_1d_gan_learns_the_target_mean_and_std():
    config = get_config("gaussian1d")
    state = init_state(config)
    rng = np.random.default_rng(0)

    @jax.jit
    def run(state, reals, key):
        def body(s, inputs):
            real, i = inputs
            return core_steps.train_step(s, Batch(real[None]), jax.random.fold_in(key, i))[0], None
        return jax.lax.scan(body, state, (reals, jnp.arange(reals.shape[0])))[0]

    steps = 2000
    reals = rng.normal(GAUSSIAN1D_MEAN, GAUSSIAN1D_STD, (steps, config.batch_size, 1)).astype(np.float32)
    state = run(state, reals, jax.random.PRNGKey(0))
    samples = np.asarray(generate(state, jax.random.PRNGKey(99), 20000))[:, 0]
    assert abs(samples.mean() - GAUSSIAN1D_MEAN) < 0.1, samples.mean()
    assert abs(samples.std() - GAUSSIAN1D_STD) < 0.1, samples.std()
