"""The PyTorch reference of benchmarks/sweep_vs_torch.py computes what gan_jax computes: the same MLP
shapes and initial scale, the same losses on the same weights. Needs the ``bench`` extra."""

import importlib.util
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from gan_jax.config.build import build_models
from gan_jax.config.schema import get_config
from gan_jax.core.losses import discriminator_bce, generator_nonsaturating
from gan_jax.errors import UserError

torch = pytest.importorskip("torch")

_PATH = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "sweep_vs_torch.py")
_spec = importlib.util.spec_from_file_location("sweep_vs_torch", _PATH)
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


def _flax_params(config):
    gen, disc = build_models(config)
    g = gen.init(jax.random.PRNGKey(0), jnp.zeros((2, config.latent_dim)), train=False)["params"]
    d = disc.init(jax.random.PRNGKey(1), jnp.zeros((2, 2)), train=False)["params"]
    return gen, disc, g, d


def _dense_layers(params):
    """Flax Dense (kernel, bias) pairs in network order (hidden_0, hidden_1, ..., output)."""
    names = sorted((n for n in params if n.startswith("hidden_")), key=lambda n: int(n.split("_")[1]))
    return [(np.asarray(params[n]["kernel"]), np.asarray(params[n]["bias"])) for n in names + ["output"]]


def _copy_into(module, layers):
    linears = [m for m in module if isinstance(m, torch.nn.Linear)]
    assert len(linears) == len(layers)
    with torch.no_grad():
        for linear, (kernel, bias) in zip(linears, layers):
            assert tuple(linear.weight.shape) == kernel.T.shape     # torch stores (out, in)
            linear.weight.copy_(torch.from_numpy(kernel.T.copy()))
            linear.bias.copy_(torch.from_numpy(bias.copy()))


@pytest.mark.parametrize("overrides", [[], ["mlp_d_hidden=32", "mlp_d_depth=3", "output_activation=tanh"]])
def test_same_weights_give_the_same_outputs_and_losses(overrides):
    config = get_config("ring8", overrides)
    gen, disc, g_params, d_params = _flax_params(config)
    torch_gen, torch_disc = bench.torch_models(config)
    _copy_into(torch_gen, _dense_layers(g_params))
    _copy_into(torch_disc, _dense_layers(d_params))
    rng = np.random.default_rng(0)
    z = rng.normal(size=(16, config.latent_dim)).astype(np.float32)
    real = rng.normal(size=(16, 2)).astype(np.float32)
    fake = gen.apply({"params": g_params}, jnp.asarray(z), train=False)
    real_logits = disc.apply({"params": d_params}, jnp.asarray(real), train=False)
    fake_logits = disc.apply({"params": d_params}, fake, train=False)
    with torch.no_grad():
        torch_fake = torch_gen(torch.from_numpy(z))
        torch_real_logits, torch_fake_logits = torch_disc(torch.from_numpy(real)), torch_disc(torch_fake)
        bce = torch.nn.BCEWithLogitsLoss()
        ones, zeros = torch.ones(16), torch.zeros(16)
        torch_d_loss = 0.5 * (bce(torch_real_logits, ones) + bce(torch_fake_logits, zeros))
        torch_g_loss = 0.5 * bce(torch_fake_logits, ones)
    np.testing.assert_allclose(torch_fake.numpy(), np.asarray(fake), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(torch_fake_logits.numpy(), np.asarray(fake_logits), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(float(torch_d_loss), float(discriminator_bce(real_logits, fake_logits)), rtol=1e-5)
    np.testing.assert_allclose(float(torch_g_loss), float(generator_nonsaturating(fake_logits)), rtol=1e-5)


def test_initial_weights_have_flax_dense_scale():
    # LeCun normal: std sqrt(1 / fan_in) after truncation; zero biases. The ring8 generator's first
    # layer (256 -> 128, 32,768 weights) estimates its std to about 0.4 %.
    config = get_config("ring8")
    torch.manual_seed(0)
    torch_gen, _ = bench.torch_models(config)
    first = torch_gen[0].requires_grad_(False)
    np.testing.assert_allclose(float(first.weight.std()), np.sqrt(1 / 256), rtol=0.02)
    assert float(first.weight.abs().max()) <= 2 * np.sqrt(1 / 256) / 0.87962566103423978 + 1e-6
    assert float(first.bias.abs().max()) == 0.0
    flax_kernel = _dense_layers(_flax_params(config)[2])[0][0]
    np.testing.assert_allclose(float(first.weight.std()), float(flax_kernel.std()), rtol=0.03)


def test_sequential_training_returns_seconds_and_refuses_what_it_does_not_implement():
    config = get_config("ring8", ["batch_size=8", "mlp_hidden=8", "latent_dim=4"])
    assert bench.torch_train_sequential(config, [0, 1], steps=2) > 0
    for overrides in (["norm=batch"], ["pack=2"], ["r1_weight=1"]):
        with pytest.raises(UserError) as info:
            bench.torch_train_sequential(get_config("ring8", overrides), [0], steps=1)
        assert "\n" not in str(info.value) and overrides[0].split("=")[0] in str(info.value)
