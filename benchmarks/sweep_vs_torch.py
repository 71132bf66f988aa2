"""A sweep of seeds (issue 16): gan_jax's sweep trainer against PyTorch eager, one seed after another.

PyTorch side (:func:`torch_train_sequential`): the GAN of an MLP preset
(``ring8`` by default) on the CPU with 2 threads, seed after seed, each
exactly as :mod:`gan_jax` trains it:

- G: ``mlp_depth`` x [Linear(``mlp_hidden``) + ReLU], then Linear(data
  dim), tanh only with ``output_activation=tanh`` (ring8: linear); D:
  ``mlp_d_depth or mlp_depth`` x [Linear(``mlp_d_hidden or mlp_hidden``) +
  LeakyReLU(0.2)], then Linear(1), a logit (:mod:`gan_jax.models.mlp`, with
  ``norm=none``); weights initialised as Flax's Dense (LeCun normal,
  truncated at 2 standard deviations, zero biases);
- losses from logits (:mod:`gan_jax.losses`): D 1/2 [BCE(D(x), 1) + BCE(D(G(z)), 0)],
  G non-saturating -1/2 E log sigmoid(D(G(z)));
- ``d_steps`` D steps on fresh real batches and fresh z (the fake detached),
  then one G step on fresh z against the updated D; Adam with the preset's
  ``lr_d``/``lr_g`` and (``beta1``, ``beta2``); ``batch_size``; z ~ N(0, I)
  or U[-1, 1]^latent_dim per ``latent_dist``;
- real data: ``gan_jax.data.sample_toy`` (the VEEGAN/PacGAN ring of 8
  Gaussians: radius 1, std 0.01), a NumPy generator seeded with the seed.

JAX side: see the marked section below (written with the sweep trainer).

    python benchmarks/sweep_vs_torch.py --seeds 8 --steps 500
"""

import argparse
import math
import time
from typing import Sequence

import numpy as np
import torch
from torch import nn

from gan_jax.config import Config, get_config
from gan_jax.data import TOY_DATA, sample_toy
from gan_jax.errors import UserError

__all__ = ["torch_models", "torch_train_sequential"]

_TOY_DIMS = {"gaussian1d": 1, "ring8": 2, "grid25": 2}


def _check_supported(config: Config) -> None:
    """A UserError naming the first setting the PyTorch reference does not implement."""
    plain = Config()
    needs = [("model", "mlp"), ("norm", "none"), ("d_loss", "bce"), ("g_loss", "nonsaturating"),
             ("conditional", "none"), ("pack", 1), ("lr_schedule", "constant")]
    for key, wanted in needs:
        if getattr(config, key) != wanted:
            raise UserError(f"the PyTorch reference trains {key}={wanted} only, got {key}={getattr(config, key)!r}; "
                            f"use an MLP preset such as ring8")
    for key in ("gp_weight", "r1_weight", "r2_weight", "label_smoothing", "unroll_steps", "instance_noise",
                "weight_clip", "consensus_weight", "feature_matching", "naive", "simultaneous"):
        if getattr(config, key) != getattr(plain, key):
            raise UserError(f"the PyTorch reference does not implement {key}={getattr(config, key)!r}; "
                            f"leave {key} at its default")
    if config.data not in TOY_DATA:
        raise UserError(f"the PyTorch reference trains on {', '.join(TOY_DATA)}, got data={config.data!r}")


def _flax_dense_init(layer: nn.Linear) -> nn.Linear:
    """Flax's Dense defaults: kernel ~ LeCun normal (variance 1 / fan_in, truncated at +-2 std), bias 0."""
    std = math.sqrt(1.0 / layer.in_features) / 0.87962566103423978   # the truncation's variance correction
    nn.init.trunc_normal_(layer.weight, 0.0, std, -2.0 * std, 2.0 * std)
    nn.init.zeros_(layer.bias)
    return layer


def torch_models(config: Config):
    """(generator, discriminator) as ``torch.nn.Sequential``, the shapes of :mod:`gan_jax.models.mlp`."""
    _check_supported(config)
    dim = _TOY_DIMS[config.data]
    g_layers, width = [], config.latent_dim
    for _ in range(config.mlp_depth):
        g_layers += [_flax_dense_init(nn.Linear(width, config.mlp_hidden)), nn.ReLU()]
        width = config.mlp_hidden
    g_layers.append(_flax_dense_init(nn.Linear(width, dim)))
    if config.output_activation == "tanh":
        g_layers.append(nn.Tanh())
    d_hidden, d_depth = config.mlp_d_hidden or config.mlp_hidden, config.mlp_d_depth or config.mlp_depth
    d_layers, width = [], dim
    for _ in range(d_depth):
        d_layers += [_flax_dense_init(nn.Linear(width, d_hidden)), nn.LeakyReLU(0.2)]
        width = d_hidden
    d_layers += [_flax_dense_init(nn.Linear(width, 1)), nn.Flatten(0)]
    return nn.Sequential(*g_layers), nn.Sequential(*d_layers)


def _train_one_seed(config: Config, seed: int, steps: int) -> None:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen, disc = torch_models(config)
    opt_g = torch.optim.Adam(gen.parameters(), lr=config.lr_g, betas=(config.beta1, config.beta2))
    opt_d = torch.optim.Adam(disc.parameters(), lr=config.lr_d, betas=(config.beta1, config.beta2))
    bce = nn.BCEWithLogitsLoss()
    batch = config.batch_size
    ones, zeros = torch.ones(batch), torch.zeros(batch)

    def latent():
        if config.latent_dist == "uniform":
            return torch.rand(batch, config.latent_dim) * 2.0 - 1.0
        return torch.randn(batch, config.latent_dim)

    for _ in range(steps):
        for _ in range(config.d_steps):
            real = torch.from_numpy(sample_toy(config.data, rng, batch)[0])
            fake = gen(latent()).detach()
            loss_d = 0.5 * (bce(disc(real), ones) + bce(disc(fake), zeros))
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        loss_g = 0.5 * bce(disc(gen(latent())), ones)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()


def torch_train_sequential(config: Config, seeds: Sequence[int], steps: int) -> float:
    """Wall seconds to train ``config``'s GAN for ``steps`` generator steps once per seed, one
    seed after another, in PyTorch eager on the CPU with 2 threads (models and optimisers
    built inside the timing, as a sweep would)."""
    if steps < 1 or not len(seeds):
        raise UserError(f"need steps >= 1 and at least one seed, got steps={steps}, seeds={list(seeds)}")
    _check_supported(config)
    torch.set_num_threads(2)
    start = time.perf_counter()
    for seed in seeds:
        _train_one_seed(config, int(seed), steps)
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# JAX side: the lead writes it with the new sweep trainer (issue 16): train the same config for
# the same seeds and steps, all seeds at once, and return its wall seconds (compilation reported
# apart), so that main() can print both and their ratio.
# ---------------------------------------------------------------------------------------------


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="ring8", help="an MLP preset (default ring8)")
    parser.add_argument("--seeds", type=int, default=8, help="number of seeds, 0..N-1 (default 8)")
    parser.add_argument("--steps", type=int, default=500, help="generator steps per seed (default 500)")
    args = parser.parse_args(argv)
    config = get_config(args.config)
    seconds = torch_train_sequential(config, range(args.seeds), args.steps)
    print(f"torch (eager, CPU, 2 threads), {args.seeds} seeds x {args.steps} steps of {args.config}, "
          f"one after another: {seconds:.2f} s ({args.seeds * args.steps / seconds:.0f} steps/s)")


if __name__ == "__main__":
    main()
