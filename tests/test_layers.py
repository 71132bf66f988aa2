"""The fast up-convolution against the plain transposed convolution, and the other layers."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models.layers import (DownConv, Normalization, UpConv, conv_transpose_4x4_s2,
                                   subpixel_conv_transpose)

SHAPES = [(2, 1, 1, 3, 5), (3, 4, 4, 8, 16), (1, 3, 5, 2, 3)]


class _FlaxUpConv(nn.Module):
    """The layer UpConv replaces: flax's own transposed convolution, same names."""
    features: int
    use_bias: bool = False

    @nn.compact
    def __call__(self, x):
        return nn.ConvTranspose(self.features, (4, 4), strides=(2, 2), padding=((2, 2), (2, 2)),
                                use_bias=self.use_bias, name="conv_transpose")(x)


def _numpy_conv_transpose(x, k):
    """Scatter definition of the stride-2 transposed convolution with padding 1:
    input pixel (i, j) adds x[i, j] K^T at output (2i + u - 1, 2j + v - 1) for
    every tap (u, v) of the 180-degree-rotated kernel (flax does not flip, lax
    rotates inside conv_transpose's correlation)."""
    b, h, w, _ = x.shape
    f = k.shape[-1]
    full = np.zeros((b, 2 * h + 2, 2 * w + 2, f))
    kr = k[::-1, ::-1]
    for i in range(h):
        for j in range(w):
            for u in range(4):
                for v in range(4):
                    full[:, 2 * i + u, 2 * j + v] += x[:, i, j] @ kr[u, v]
    return full[:, 1:-1, 1:-1]


def _inputs(shape, seed=0):
    b, h, w, c, f = shape
    kx, kk = jax.random.split(jax.random.PRNGKey(seed))
    return jax.random.normal(kx, (b, h, w, c)), jax.random.normal(kk, (4, 4, c, f))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("jit", [False, True])
def test_subpixel_equals_conv_transpose(shape, jit):
    x, k = _inputs(shape)
    fast = jax.jit(subpixel_conv_transpose) if jit else subpixel_conv_transpose
    ref = conv_transpose_4x4_s2(x, k)
    assert ref.shape == (shape[0], 2 * shape[1], 2 * shape[2], shape[4])
    np.testing.assert_allclose(fast(x, k), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("shape", SHAPES[:3])
def test_conv_transpose_matches_numpy_scatter(shape):
    x, k = _inputs(shape, seed=1)
    expected = _numpy_conv_transpose(np.asarray(x, np.float64), np.asarray(k, np.float64))
    np.testing.assert_allclose(conv_transpose_4x4_s2(x, k), expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(subpixel_conv_transpose(x, k), expected, rtol=1e-4, atol=1e-4)


def test_subpixel_gradients_equal_conv_transpose():
    x, k = _inputs((2, 3, 3, 4, 16), seed=2)
    cot = jax.random.normal(jax.random.PRNGKey(3), (2, 6, 6, 16))
    loss = lambda f: lambda x, k: jnp.sum(f(x, k) * cot)
    g_fast = jax.jit(jax.grad(loss(subpixel_conv_transpose), argnums=(0, 1)))(x, k)
    g_ref = jax.grad(loss(conv_transpose_4x4_s2), argnums=(0, 1))(x, k)
    for a, b in zip(g_fast, g_ref):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("features,use_bias", [(16, False), (32, True), (3, True)])
def test_upconv_is_flax_conv_transpose(features, use_bias):
    """Same parameter tree, same initial values, same output as nn.ConvTranspose."""
    x = jax.random.normal(jax.random.PRNGKey(4), (2, 4, 4, 8))
    key = jax.random.PRNGKey(5)
    ours = UpConv(features, use_bias=use_bias)
    flax_layer = _FlaxUpConv(features, use_bias=use_bias)
    v_ours = ours.init(key, x)
    v_flax = flax_layer.init(key, x)
    assert jax.tree.map(jnp.shape, v_ours) == jax.tree.map(jnp.shape, v_flax)
    np.testing.assert_array_equal(v_ours["params"]["conv_transpose"]["kernel"],
                                  v_flax["params"]["conv_transpose"]["kernel"])
    params = dict(v_ours["params"]["conv_transpose"])
    if use_bias:
        params["bias"] = jnp.linspace(-1.0, 1.0, features)
    variables = {"params": {"conv_transpose": params}}
    np.testing.assert_allclose(ours.apply(variables, x), flax_layer.apply(variables, x),
                               rtol=1e-5, atol=1e-5)


def test_upconv_bfloat16_compute_keeps_float32_params():
    x = jax.random.normal(jax.random.PRNGKey(6), (2, 4, 4, 8))
    layer = UpConv(16, dtype=jnp.bfloat16)
    variables = layer.init(jax.random.PRNGKey(7), x)
    assert variables["params"]["conv_transpose"]["kernel"].dtype == jnp.float32
    y = layer.apply(variables, x)
    assert y.dtype == jnp.bfloat16
    ref = conv_transpose_4x4_s2(x, variables["params"]["conv_transpose"]["kernel"])
    np.testing.assert_allclose(np.asarray(y, np.float32), ref, rtol=0.05, atol=0.1)


def test_downconv_halves_and_normalization_shapes():
    x = jax.random.normal(jax.random.PRNGKey(8), (2, 8, 8, 3))
    y, _ = DownConv(5).init_with_output(jax.random.PRNGKey(9), x)
    assert y.shape == (2, 4, 4, 5)
    for kind in ("batch", "layer", "none"):
        out, _ = Normalization(kind).init_with_output(jax.random.PRNGKey(0), x, train=True)
        assert out.shape == x.shape
    # Batch norm in train mode: zero mean, unit variance per channel.
    out, _ = Normalization("batch").init_with_output(jax.random.PRNGKey(0), x, train=True)
    np.testing.assert_allclose(np.mean(out, axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(np.var(out, axis=(0, 1, 2)), 1.0, atol=1e-3)


def test_compute_dtype_bfloat16_dcgan_matches_float32():
    """Mixed precision: same float32 parameters, bfloat16 activations, float32
    outputs within bfloat16 rounding (8 mantissa bits) of the float32 model."""
    from gan_jax.build import build_models
    from gan_jax.config import get_config
    from gan_jax.errors import UserError
    small = ["g_width=16", "d_width=16", "latent_dim=8"]
    g32, _ = build_models(get_config("digits_dcgan", small))
    g16, _ = build_models(get_config("digits_dcgan", small + ["compute_dtype=bfloat16"]))
    z = jax.random.normal(jax.random.PRNGKey(0), (4, 8))
    variables = g32.init(jax.random.PRNGKey(1), z, train=False)
    assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(g16.init(jax.random.PRNGKey(1), z, train=False)))
    y16 = g16.apply(variables, z, train=False)
    assert y16.dtype == jnp.float32
    np.testing.assert_allclose(y16, g32.apply(variables, z, train=False), atol=0.05)
    with pytest.raises(UserError, match="compute_dtype"):
        build_models(get_config("digits_dcgan", ["compute_dtype=float16"]))
