"""Stacked digits: the sampler's shapes, its modes against its own channels, uniformity, jit and vmap."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.data.stacked_digits import sample_stacked_digits
from gan_jax.errors import UserError
from gan_jax.metrics.stacked_modes import NUM_STACKED_MODES, stacked_modes

_sample = jax.jit(sample_stacked_digits, static_argnames="n")


def _distinct_digits(m=20, size=4, seed=0):
    """``m`` distinct random images in [-1, 1] with labels i mod 10 (each image identifies its index)."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1, 1, size=(m, size, size, 1)).astype(np.float32)
    return jnp.asarray(images), jnp.asarray(np.arange(m, dtype=np.int32) % 10)


def test_stacked_modes_is_the_base_10_number_of_the_channel_classes():
    classes = np.array(list(itertools.product(range(10), repeat=3)), np.int32)   # all 1,000 triples
    modes = np.asarray(stacked_modes(jnp.asarray(classes)))
    assert modes.dtype == np.int32
    np.testing.assert_array_equal(modes, [int(f"{a}{b}{c}") for a, b, c in classes])
    assert sorted(modes.tolist()) == list(range(NUM_STACKED_MODES))   # one-to-one onto 0..999


def test_each_channel_is_one_of_the_images_and_the_mode_is_read_from_its_labels():
    images, labels = _distinct_digits()
    stacked, modes = _sample(jax.random.PRNGKey(3), images, labels, n=64)
    assert stacked.shape == (64, 4, 4, 3) and stacked.dtype == jnp.float32
    assert modes.shape == (64,) and modes.dtype == jnp.int32
    flat = np.asarray(images).reshape(len(images), -1)
    for image, mode in zip(np.asarray(stacked), np.asarray(modes)):
        sources = []
        for c in range(3):
            matches = np.flatnonzero((flat == image[..., c].ravel()).all(axis=1))
            assert len(matches) == 1
            sources.append(int(matches[0]))
        expected = 100 * (sources[0] % 10) + 10 * (sources[1] % 10) + sources[2] % 10
        assert mode == expected


def test_channels_are_independent_and_uniform_over_images():
    # Ten images, one per class: modes are uniform over 1,000 exactly when the three draws are
    # uniform and independent. Their empirical KL to uniform must sit near the sampling floor
    # (K-1)/(2N) = 0.025; equal channels would give log(1000 / 10) = 4.6, one channel's class
    # frequencies off by 10 % about 0.005 more.
    images, labels = _distinct_digits(m=10)
    n = 20_000
    _, modes = _sample(jax.random.PRNGKey(0), images, labels, n=n)
    counts = np.bincount(np.asarray(modes), minlength=1000)
    p = counts / n
    kl = np.sum(p[p > 0] * np.log(p[p > 0] * 1000))
    assert abs(kl - 999 / (2 * n)) < 0.004
    for digit_place in (np.asarray(modes) // 100, np.asarray(modes) // 10 % 10, np.asarray(modes) % 10):
        np.testing.assert_allclose(np.bincount(digit_place, minlength=10) / n, 0.1, atol=0.01)


def test_same_key_same_sample_and_vmap_over_keys_matches_single_calls():
    images, labels = _distinct_digits()
    keys = jax.random.split(jax.random.PRNGKey(7), 4)
    batched, batched_modes = jax.vmap(lambda k: sample_stacked_digits(k, images, labels, 16))(keys)
    assert batched.shape == (4, 16, 4, 4, 3)
    for i, key in enumerate(keys):
        single, single_modes = _sample(key, images, labels, n=16)
        np.testing.assert_array_equal(batched[i], single)
        np.testing.assert_array_equal(batched_modes[i], single_modes)
    assert not np.array_equal(batched_modes[0], batched_modes[1])


def test_real_digits_give_images_in_range():
    from gan_jax.data.sources import load_digits
    images, labels = load_digits()
    stacked, modes = _sample(jax.random.PRNGKey(0), jnp.asarray(images), jnp.asarray(labels), n=256)
    assert stacked.shape == (256, 8, 8, 3)
    assert float(stacked.min()) >= -1.0 and float(stacked.max()) <= 1.0
    assert 0 <= int(modes.min()) and int(modes.max()) < 1000


@pytest.mark.parametrize("shape,labels_len,n,problem", [
    ((5, 4, 4, 3), 5, 2, "(M, H, W, 1)"),
    ((5, 4, 4), 5, 2, "(M, H, W, 1)"),
    ((5, 4, 4, 1), 4, 2, "one per image"),
    ((5, 4, 4, 1), 5, 0, "n must be"),
])
def test_bad_input_is_a_one_line_value_error(shape, labels_len, n, problem):
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")) as info:
        sample_stacked_digits(jax.random.PRNGKey(0), jnp.zeros(shape), jnp.zeros((labels_len,), jnp.int32), n)
    assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        stacked_modes(jnp.zeros((4, 2), jnp.int32))


# The config side: the data name, its shape rule and the preset.

def test_preset_is_8x8x3_and_assembles_a_dcgan_of_that_shape():
    from gan_jax.config.build import build_models, check_config
    from gan_jax.config.schema import get_config
    config = check_config(get_config("stacked_digits_dcgan"))
    assert (config.data, config.image_size, config.channels, config.model) == ("stacked_digits", 8, 3, "dcgan")
    gen, disc = build_models(config)
    variables = gen.init(jax.random.PRNGKey(0), jnp.zeros((2, config.latent_dim)), train=False)
    images = gen.apply(variables, jnp.zeros((2, config.latent_dim)), train=False)
    assert images.shape == (2, 8, 8, 3)
    d_variables = disc.init(jax.random.PRNGKey(1), images, train=False)
    assert disc.apply(d_variables, images, train=False).shape == (2,)


def _channels_by_resolution(params, side_of):
    """{feature-map side: output channels} of the named conv layers."""
    return {side: jax.tree_util.tree_leaves(params[name])[-1].shape[-1] for name, side in side_of.items()}


def test_small_discriminator_override_has_a_quarter_of_the_generator_channels_at_each_resolution():
    # PacGAN Table 3 / Metz et al. 2017: "D is 1/4 size of G", here d_width=16 against g_width=64.
    from gan_jax.config.build import build_models
    from gan_jax.config.schema import get_config
    config = get_config("stacked_digits_dcgan", ["d_width=16"])
    gen, disc = build_models(config)
    g = jax.eval_shape(lambda: gen.init(jax.random.PRNGKey(0), jnp.zeros((2, config.latent_dim)), train=False))
    d = jax.eval_shape(lambda: disc.init(jax.random.PRNGKey(0), jnp.zeros((2, 8, 8, 3)), train=False))
    g_channels = _channels_by_resolution(g["params"], {"project": 2, "up_0": 4})
    d_channels = _channels_by_resolution(d["params"], {"down_1": 2, "input": 4})
    assert {side: 4 * c for side, c in d_channels.items()} == g_channels


@pytest.mark.parametrize("overrides", [["data=stacked_digits"], ["data=stacked_digits", "channels=3",
                                                                  "image_size=28"]])
def test_stacked_digits_with_another_shape_is_refused_in_one_line(overrides):
    from gan_jax.config.schema import config_from_dict, get_config
    with pytest.raises(UserError, match="image_size=8 channels=3") as info:
        get_config("digits_dcgan", overrides)
    assert "\n" not in str(info.value)
    with pytest.raises(UserError, match="stacked_digits"):
        config_from_dict({"data": "stacked_digits", "channels": 1})
    assert get_config("digits_dcgan", ["data=stacked_digits", "channels=3"]).channels == 3
