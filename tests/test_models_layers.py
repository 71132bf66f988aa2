"""The fast up-convolution against the plain transposed convolution, and the other layers."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models.layers import (
    DownConv,
    FullConv,
    Normalization,
    Project,
    UpConv,
    conv_transpose_4x4_s2,
    subpixel_conv_transpose,
)

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


def _numpy_conv_4x4_s2(x, k):
    """y[b, p, q, f] = sum_{i, j, c} xp[b, 2p + i, 2q + j, c] K[i, j, c, f], xp padded by 1."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    ho, wo = x.shape[1] // 2, x.shape[2] // 2
    y = np.zeros((x.shape[0], ho, wo, k.shape[-1]))
    for p in range(ho):
        for q in range(wo):
            y[:, p, q] = np.einsum("bijc,ijcf->bf", xp[:, 2 * p:2 * p + 4, 2 * q:2 * q + 4], k)
    return y


@pytest.mark.parametrize("shape", [(2, 8, 8, 3, 5), (1, 7, 9, 1, 4), (3, 6, 4, 20, 2)])
def test_downconv_matches_the_sum_formula(shape):
    b, h, w, c, f = shape
    kx, kk = jax.random.split(jax.random.PRNGKey(11))
    x, k = jax.random.normal(kx, (b, h, w, c)), jax.random.normal(kk, (4, 4, c, f))
    expected = _numpy_conv_4x4_s2(np.asarray(x, np.float64), np.asarray(k, np.float64))
    y = DownConv(f).apply({"params": {"conv": {"kernel": k}}}, x)
    np.testing.assert_allclose(y, expected, rtol=1e-4, atol=1e-4)


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
    from gan_jax.config.build import build_models
    from gan_jax.config.schema import get_config
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


class _Project(nn.Module):
    """DCGAN's projection of the latent, as a submodule named ``project``:
    ours (:class:`Project`) or the flax transposed convolution it replaces."""
    features: int
    size: int
    flax: bool = False

    @nn.compact
    def __call__(self, z):
        if not self.flax:
            return Project(self.features, self.size, name="project")(z)
        return nn.ConvTranspose(self.features, (self.size, self.size), padding="VALID",
                                use_bias=False, name="project")(z.reshape(z.shape[0], 1, 1, -1))


class _FullConv(nn.Module):
    """DCGAN's logit layer as a submodule named ``output``: ours (:class:`FullConv`)
    or flax's VALID convolution with a kernel as large as its input."""
    flax: bool = False

    @nn.compact
    def __call__(self, x):
        if not self.flax:
            return FullConv(1, name="output")(x)
        return nn.Conv(1, x.shape[1:3], padding="VALID", name="output")(x)


def _assert_same_layer(ours, reference, x, perturb):
    """Same parameter tree and initial values as the flax layer (so checkpoints
    match); same output and gradients (input and parameters) under jit, with
    ``perturb`` applied to the parameters."""
    key = jax.random.PRNGKey(11)
    v_ours, v_ref = ours.init(key, x), reference.init(key, x)
    assert jax.tree.map(jnp.shape, v_ours) == jax.tree.map(jnp.shape, v_ref)
    for a, b in zip(jax.tree.leaves(v_ours), jax.tree.leaves(v_ref)):
        np.testing.assert_array_equal(a, b)
    params = perturb(v_ref["params"])
    run_ours = jax.jit(lambda p, x: ours.apply({"params": p}, x))
    run_ref = lambda p, x: reference.apply({"params": p}, x)
    np.testing.assert_allclose(run_ours(params, x), run_ref(params, x), rtol=1e-5, atol=1e-5)
    loss = lambda run: lambda p, x: jnp.sum(jnp.sin(run(p, x)))
    g_ours = jax.jit(jax.grad(loss(run_ours), argnums=(0, 1)))(params, x)
    g_ref = jax.grad(loss(run_ref), argnums=(0, 1))(params, x)
    for a, b in zip(jax.tree.leaves(g_ours), jax.tree.leaves(g_ref)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size,latent,features", [(7, 5, 6), (4, 3, 2), (2, 4, 8)])
def test_project_is_flax_conv_transpose(size, latent, features):
    """The 180-degree kernel rotation of the matmul is what lax.conv_transpose computes."""
    z = jax.random.normal(jax.random.PRNGKey(12), (3, latent))
    _assert_same_layer(_Project(features, size), _Project(features, size, flax=True), z,
                       lambda p: p)


@pytest.mark.parametrize("shape", [(3, 7, 7, 5), (2, 4, 4, 3), (4, 2, 2, 6)])
def test_full_conv_is_flax_conv(shape):
    x = jax.random.normal(jax.random.PRNGKey(13), shape)
    with_bias = lambda p: {"output": {**p["output"], "bias": jnp.array([0.7])}}
    _assert_same_layer(_FullConv(), _FullConv(flax=True), x, with_bias)
    assert FullConv(1).init_with_output(jax.random.PRNGKey(0), x)[0].shape == (shape[0], 1, 1, 1)
