"""Conditional models: each conditioning checked against its defining formula."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import MLPDiscriminator, MLPGenerator
from gan_jax.models.conditional import (
    ConditionalDiscriminator,
    ConditionalGenerator,
    check_labels,
)

K = 3
both = pytest.mark.parametrize("jit", [False, True])


def _call(module, variables, *args, jit=False, **kwargs):
    f = lambda v, *a: module.apply(v, *a, train=False, **kwargs)
    return (jax.jit(f) if jit else f)(variables, *args)


@both
def test_onehot_generator_is_base_on_concatenated_input(jit):
    base = MLPGenerator((2,), hidden=8, depth=1)
    gen = ConditionalGenerator(base, K)
    z = jax.random.normal(jax.random.PRNGKey(0), (4, 5))
    y = jnp.array([0, 1, 2, 1])
    v = gen.init(jax.random.PRNGKey(1), z, train=False, labels=y)
    out = _call(gen, v, z, jit=jit, labels=y)
    ref = base.apply({"params": v["params"]["base"]}, jnp.concatenate([z, jax.nn.one_hot(y, K)], 1), train=False)
    np.testing.assert_allclose(out, ref, rtol=1e-6)


@both
def test_embedding_generator_shapes_and_label_dependence(jit):
    gen = ConditionalGenerator(MLPGenerator((8, 8, 1), hidden=8, depth=1), K, label_embedding="embed")
    z = jnp.zeros((2, 4))
    v = jax.jit(lambda k: gen.init(k, z, train=False, labels=jnp.array([0, 1])))(jax.random.PRNGKey(0))
    out = _call(gen, v, z, jit=jit, labels=jnp.array([0, 1]))
    assert out.shape == (2, 8, 8, 1)
    assert not np.allclose(out[0], out[1])   # the same z, different classes


@both
def test_concat_discriminator_appends_label_channels(jit):
    # An MLP base flattens its input, so it sees exactly the channel-concatenated image.
    base = MLPDiscriminator(hidden=6, depth=1)
    disc = ConditionalDiscriminator(base, K, "concat")
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 8, 8, 1))
    y = jnp.array([2, 0])
    v = jax.jit(lambda k: disc.init(k, x, train=False, labels=y))(jax.random.PRNGKey(1))
    out = _call(disc, v, x, jit=jit, labels=y)
    channels = jnp.broadcast_to(jax.nn.one_hot(y, K)[:, None, None, :], (2, 8, 8, K))
    ref = base.apply({"params": v["params"]["base"]}, jnp.concatenate([x, channels], -1), train=False)
    assert out.shape == (2,)
    np.testing.assert_allclose(out, ref, rtol=1e-5)


@both
def test_projection_discriminator_formula(jit):
    # D(x, y) - D(x, y') = (e(y) - e(y')) . phi(x)  (Miyato & Koyama 2018, eq. 3)
    disc = ConditionalDiscriminator(MLPDiscriminator(hidden=6, depth=1), K, "projection")
    x = jax.random.normal(jax.random.PRNGKey(0), (2, 4))
    v = disc.init(jax.random.PRNGKey(1), x, train=False, labels=jnp.array([0, 0]))
    d0, feat = _call(disc, v, x, jit=jit, labels=jnp.array([0, 0]), return_features=True)
    d2 = _call(disc, v, x, jit=jit, labels=jnp.array([2, 2]))
    e = v["params"]["class_projection"]["embedding"]
    np.testing.assert_allclose(d2 - d0, feat @ (e[2] - e[0]), rtol=1e-5, atol=1e-6)


@both
def test_acgan_discriminator_returns_class_logits(jit):
    disc = ConditionalDiscriminator(MLPDiscriminator(hidden=6, depth=1), K, "acgan")
    x = jax.random.normal(jax.random.PRNGKey(0), (5, 4))
    v = disc.init(jax.random.PRNGKey(1), x, train=False, labels=jnp.zeros(5, jnp.int32))
    logits, class_logits = _call(disc, v, x, jit=jit, labels=jnp.zeros(5, jnp.int32))
    assert logits.shape == (5,) and class_logits.shape == (5, K)
    _, feat = _call(disc, v, x, jit=jit, labels=jnp.zeros(5, jnp.int32), return_features=True)
    head = v["params"]["class_head"]
    np.testing.assert_allclose(class_logits, feat @ head["kernel"] + head["bias"], rtol=1e-5, atol=1e-6)


def test_check_labels():
    check_labels(np.array([0, 2]), K)
    with pytest.raises(ValueError, match="label 3 is outside the model's classes 0..2"):
        check_labels(np.array([0, 3]), K)
    with pytest.raises(ValueError, match="outside"):
        check_labels(np.array([-1]), K)
    with pytest.raises(ValueError, match="unconditional"):
        check_labels(np.array([0]), 0)
    with pytest.raises(ValueError, match="ints"):
        check_labels(np.array([0.5]), K)


@functools.lru_cache(maxsize=None)
def _tiny_state(name):
    """A tiny MLP state of a preset, built once per test session (init is slow on a shared CPU)."""
    from gan_jax.config.build import init_state
    from gan_jax.config.schema import get_config
    return init_state(get_config(name, ["model=mlp", "mlp_hidden=8", "mlp_depth=1", "latent_dim=4",
                                        "batch_size=4", "aux_class_weight=0.7"]))


def test_acgan_losses_add_the_class_cross_entropy():
    # L_D(w) - L_D(0) = w (CE(real) + CE(fake)), CE = mean(logsumexp(c) - c_y)  (Odena et al. 2017)
    from gan_jax.core import steps as st
    state = _tiny_state("digits_acgan")
    x = jax.random.normal(jax.random.PRNGKey(0), (6, 8, 8, 1))
    fake = jax.random.normal(jax.random.PRNGKey(1), (6, 8, 8, 1))
    y = jnp.array([0, 1, 2, 3, 9, 5])
    key = jax.random.PRNGKey(2)
    with_aux = st._d_loss(state, state.d_params, x, fake, y, key)[0]
    plain = state.replace(objective=dataclasses.replace(state.objective, aux_class_weight=0.0))
    without = st._d_loss(plain, plain.d_params, x, fake, y, key)[0]

    def ce(batch):
        c = np.asarray(state.discriminator.apply({"params": state.d_params}, batch, train=False, labels=y)[1],
                       np.float64)
        m = c.max(1, keepdims=True)
        return np.mean(np.log(np.exp(c - m).sum(1)) + m[:, 0] - c[np.arange(6), np.asarray(y)])

    np.testing.assert_allclose(with_aux - without, 0.7 * (ce(x) + ce(fake)), rtol=1e-4)


@pytest.mark.parametrize("name", ["digits_cgan", "digits_acgan"])
def test_conditional_presets_train_a_step(name):
    from gan_jax.core.state import Batch
    from gan_jax.core.steps import train_step
    state = _tiny_state(name)
    batch = Batch(jnp.zeros((1, 4, 8, 8, 1)), jnp.array([[0, 1, 2, 3]]))
    state, metrics = jax.jit(train_step)(state, batch, jax.random.PRNGKey(0))
    assert np.isfinite(float(metrics["d_loss"])) and np.isfinite(float(metrics["g_loss"]))


@both
def test_per_class_accuracy_counts_hits_per_requested_class(jit):
    from gan_jax.metrics.per_class import per_class_accuracy
    probs = jax.nn.one_hot(jnp.array([0, 1, 1, 2, 0]), 4)
    labels = jnp.array([0, 1, 2, 2, 1])
    f = jax.jit(per_class_accuracy, static_argnums=2) if jit else per_class_accuracy
    out = np.asarray(f(probs, labels, 4))
    np.testing.assert_allclose(out[:3], [1.0, 0.5, 0.5])
    assert np.isnan(out[3])   # class 3 never requested


def test_per_class_frechet_matches_scipy_formula():
    import scipy.linalg

    from gan_jax.metrics.per_class import per_class_frechet
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(60, 3)), rng.normal(1.0, 2.0, size=(50, 3))
    la, lb = np.repeat([0, 1], 30), np.repeat([0, 1], 25)
    out = per_class_frechet(a, la, b, lb, 3)
    for k in range(2):
        x, y = a[la == k], b[lb == k]
        s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
        ref = np.sum((x.mean(0) - y.mean(0)) ** 2) + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
        np.testing.assert_allclose(out[k], ref, rtol=1e-6)
    assert np.isnan(out[2])
