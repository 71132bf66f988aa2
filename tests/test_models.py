"""The DCGAN rules, checked on the parameter tree and the traced computation,
and the shapes of every model."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.models import (
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
)

SIZES = [(8, 1), (28, 1), (32, 3), (64, 3)]


def _primitives(fn, *args):
    """Names of all primitives in the jaxpr of fn(*args), nested calls included."""
    names = []

    def walk(jaxpr):
        for eqn in jaxpr.eqns:
            names.append(eqn.primitive.name)
            for value in eqn.params.values():
                inner = getattr(value, "jaxpr", None)
                if inner is not None:
                    walk(getattr(inner, "jaxpr", inner))
    walk(jax.make_jaxpr(fn)(*args).jaxpr)
    return names


def _init(size, channels, width=8):
    g = DCGANGenerator(size, channels, width)
    d = DCGANDiscriminator(size, width)
    z = jnp.ones((2, 16))
    g_vars = g.init(jax.random.PRNGKey(0), z)
    x = g.apply(g_vars, z, train=False)
    d_vars = d.init(jax.random.PRNGKey(1), x)
    return g, d, g_vars, d_vars, z, x


@pytest.mark.parametrize("size,channels", SIZES)
def test_shapes_and_range(size, channels):
    g, d, g_vars, d_vars, z, x = _init(size, channels)
    assert x.shape == (2, size, size, channels)
    assert float(jnp.max(jnp.abs(x))) <= 1.0
    assert d.apply(d_vars, x, train=False).shape == (2,)


@pytest.mark.parametrize("size,channels", SIZES)
def test_no_fully_connected_layers_only_convolution_kernels(size, channels):
    _, _, g_vars, d_vars, _, _ = _init(size, channels)
    for variables in (g_vars, d_vars):
        kernels = [leaf for path, leaf in jax.tree_util.tree_leaves_with_path(variables["params"])
                   if "kernel" in jax.tree_util.keystr(path)]
        assert kernels and all(k.ndim == 4 for k in kernels)  # (kh, kw, in, out): no Dense (2-D) kernel


@pytest.mark.parametrize("size,channels", SIZES)
def test_batch_norm_everywhere_except_generator_output_and_discriminator_input(size, channels):
    _, _, g_vars, d_vars, _, _ = _init(size, channels)
    for variables, unnormalised in ((g_vars, "output"), (d_vars, "input")):
        params = variables["params"]
        convs = [name for name in params if not name.endswith("_norm")]
        normed = {name[:-len("_norm")] for name in params if name.endswith("_norm")}
        last = "output"
        expected = set(convs) - {unnormalised, last}
        assert normed == expected
        assert set(variables["batch_stats"]) == {f"{n}_norm" for n in expected}
    # D's output layer is the 1-logit convolution, G's is the image layer: neither is normalised.
    assert "output_norm" not in g_vars["params"] and "input_norm" not in d_vars["params"]


@pytest.mark.parametrize("size,channels", [(8, 1), (64, 3)])
def test_no_pooling_relu_in_generator_leaky_relu_in_discriminator(size, channels):
    g, d, g_vars, d_vars, z, x = _init(size, channels)
    n_conv_g = len([k for k in g_vars["params"] if not k.endswith("_norm")])
    n_conv_d = len([k for k in d_vars["params"] if not k.endswith("_norm")])
    g_prims = _primitives(lambda z: g.apply(g_vars, z, train=False), z)
    d_prims = _primitives(lambda x: d.apply(d_vars, x, train=False), x)
    for prims in (g_prims, d_prims):
        assert not any("reduce_window" in p for p in prims)  # max/avg pooling lower to reduce_window
    assert g_prims.count("max") == n_conv_g - 1      # ReLU after every hidden layer
    assert g_prims.count("tanh") == 1                 # tanh only at the output
    assert d_prims.count("max") == 0                  # no ReLU in D ...
    assert d_prims.count("select_n") == n_conv_d - 1  # ... LeakyReLU (a select) after every hidden layer


def _layer_calls(module, variables, x):
    """``(name, input, output)`` of each of the module's own layers, in call
    order, recorded from its forward pass in eval mode."""
    calls = []

    def record(next_fun, args, kwargs, context):
        out = next_fun(*args, **kwargs)
        if context.method_name == "__call__" and len(context.module.scope.path) == 1:
            calls.append((context.module.name, np.asarray(args[0]), np.asarray(out)))
        return out

    with nn.intercept_methods(record):
        module.apply(variables, x, train=False)
    return calls


@pytest.mark.parametrize("size,channels,norm", [(8, 1, "none"), (32, 3, "batch")])
def test_leaky_relu_slope_is_0_2(size, channels, norm):
    """Reads D's activations off its own forward pass: between a layer's output
    h and the next convolution's input a, a = h where h >= 0 and a = 0.2 h where
    h < 0 (LeakyReLU(0.2), Radford et al. 2016), after every hidden layer."""
    d = DCGANDiscriminator(size, 4, norm=norm)
    x = jax.random.normal(jax.random.PRNGKey(0), (2, size, size, channels))
    variables = d.init(jax.random.PRNGKey(1), x)
    calls = _layer_calls(d, variables, x)
    # An activation sits wherever a layer feeds a convolution (a norm layer takes the raw convolution).
    activations = [(calls[i][2], calls[i + 1][1]) for i in range(len(calls) - 1)
                   if not calls[i + 1][0].endswith("_norm")]
    n_conv = len([k for k in variables["params"] if not k.endswith("_norm")])
    assert len(activations) == n_conv - 1
    for h, a in activations:
        negative = h < 0
        assert negative.any() and (~negative).any()
        np.testing.assert_array_equal(a[~negative], h[~negative])
        np.testing.assert_allclose(a[negative] / h[negative], 0.2, rtol=1e-5)


def test_issue_28x28_layout():
    # z(100) -> ConvT 7x7 to 256 -> ConvT 4x4 s2 to 128 -> ConvT 4x4 s2 to 1;
    # D: Conv 4x4 s2 to 128 -> Conv 4x4 s2 to 256 -> Conv 7x7 to 1.
    g = DCGANGenerator(28, 1, 128)
    d = DCGANDiscriminator(28, 128)
    g_vars = g.init(jax.random.PRNGKey(0), jnp.ones((2, 100)))
    d_vars = d.init(jax.random.PRNGKey(0), jnp.ones((2, 28, 28, 1)))
    kernels = lambda p: [leaf.shape for path, leaf in jax.tree_util.tree_leaves_with_path(p)
                         if "kernel" in jax.tree_util.keystr(path)]
    assert kernels(g_vars["params"]) == [(4, 4, 128, 1), (7, 7, 100, 256), (4, 4, 256, 128)] or \
        sorted(kernels(g_vars["params"])) == sorted([(7, 7, 100, 256), (4, 4, 256, 128), (4, 4, 128, 1)])
    assert sorted(kernels(d_vars["params"])) == sorted([(4, 4, 1, 128), (4, 4, 128, 256), (7, 7, 256, 1)])


def test_mlp_models_shapes_and_features():
    g = MLPGenerator((2,), hidden=16, depth=2)
    d = MLPDiscriminator(hidden=16, depth=2)
    z = jnp.ones((5, 3))
    x = g.apply(g.init(jax.random.PRNGKey(0), z), z)
    assert x.shape == (5, 2)
    dv = d.init(jax.random.PRNGKey(0), x)
    logits, features = d.apply(dv, x, return_features=True)
    assert logits.shape == (5,) and features.shape == (5, 16)


def test_mlp_tanh_and_orthogonal_options_as_in_the_unrolled_gan_notebook():
    """activation=tanh puts tanh after every hidden layer (no ReLU/LeakyReLU left);
    weight_init=("orthogonal", g) makes each square kernel W satisfy W^T W = g^2 I."""
    g = MLPGenerator((2,), hidden=16, depth=2, activation="tanh", weight_init=("orthogonal", 1.4))
    d = MLPDiscriminator(hidden=16, depth=2, activation="tanh", weight_init=("orthogonal", 1.4))
    z = jnp.ones((5, 16))
    gv = g.init(jax.random.PRNGKey(0), z)
    w = np.asarray(gv["params"]["hidden_1"]["kernel"])
    np.testing.assert_allclose(w.T @ w, 1.4 ** 2 * np.eye(16), atol=1e-5)
    dv = d.init(jax.random.PRNGKey(1), jnp.ones((5, 2)))
    w = np.asarray(dv["params"]["hidden_1"]["kernel"])
    np.testing.assert_allclose(w.T @ w, 1.4 ** 2 * np.eye(16), atol=1e-5)
    for model, variables, x in ((g, gv, z), (d, dv, jnp.ones((5, 2)))):
        names = _primitives(lambda v, x: model.apply(v, x), variables, x)
        assert names.count("tanh") == 2 and "max" not in names and "select_n" not in names
    _, features = d.apply(dv, 50.0 * jnp.ones((5, 2)), return_features=True)
    assert float(jnp.max(jnp.abs(features))) <= 1.0
