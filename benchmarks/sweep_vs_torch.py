"""A sweep of seeds: gan_jax's sweep trainer against PyTorch eager, one seed after another.

PyTorch side (:func:`torch_train_sequential`): the GAN of an MLP preset
(``ring8`` by default) on the CPU with 2 threads, seed after seed, each
exactly as :mod:`gan_jax` trains it:

- G: ``mlp_depth`` x [Linear(``mlp_hidden``) + ReLU], then Linear(data
  dim), tanh only with ``output_activation=tanh`` (ring8: linear); D:
  ``mlp_d_depth or mlp_depth`` x [Linear(``mlp_d_hidden or mlp_hidden``) +
  LeakyReLU(0.2)], then Linear(1), a logit (:mod:`gan_jax.models.mlp`, with
  ``norm=none``); weights initialised as Flax's Dense (LeCun normal,
  truncated at 2 standard deviations, zero biases);
- losses from logits (:mod:`gan_jax.core.losses`): D 1/2 [BCE(D(x), 1) + BCE(D(G(z)), 0)],
  G non-saturating -1/2 E log sigmoid(D(G(z)));
- ``d_steps`` D steps on fresh real batches and fresh z (the fake detached),
  then one G step on fresh z against the updated D; Adam with the preset's
  ``lr_d``/``lr_g`` and (``beta1``, ``beta2``); ``batch_size``; z ~ N(0, I)
  or U[-1, 1]^latent_dim per ``latent_dist``;
- real data: the same batches gan_jax trains on (:class:`gan_jax.data.sources.SamplerSource`
  of the seed: the VEEGAN/PacGAN ring of 8 Gaussians, radius 1, std 0.01), drawn
  before the timing starts.

JAX side (:func:`jax_train_sweep`): :func:`gan_jax.train.driver.train_members` on the
same config, one seed alone and all seeds vmapped, ``steps_per_call`` steps per
dispatch; each timed twice, the first time with compilation.

    python benchmarks/sweep_vs_torch.py --seeds 5 --steps 1000
"""

import argparse
import dataclasses
import json
import math
import time
from typing import Sequence, Tuple

import jax
import numpy as np
import torch
from torch import nn

from gan_jax.config.schema import Config, get_config
from gan_jax.data.sources import TOY_DATA, SamplerSource, make_source
from gan_jax.errors import UserError
from gan_jax.runs.provenance import collect_provenance, entry_point_setup
from gan_jax.train.driver import train_members
from gan_jax.train.sweep import make_chunk_fn

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
                "weight_clip", "consensus_weight", "feature_matching", "naive", "simultaneous",
                "mlp_activation", "mlp_init", "mlp_init_gain"):
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


def _real_batches(config: Config, seed: int, steps: int) -> torch.Tensor:
    """The real batches ``(steps * d_steps, B, dim)`` of seed ``seed``: gan_jax's own data stream
    (:class:`gan_jax.data.sources.SamplerSource`), drawn before the timing starts."""
    source = SamplerSource(config.data, config.batch_size, seed)
    return torch.from_numpy(np.stack([source.batch(p)[0] for p in range(steps * config.d_steps)]))


def _train_one_seed(config: Config, seed: int, steps: int, reals: torch.Tensor) -> None:
    torch.manual_seed(seed)
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

    position = 0
    for _ in range(steps):
        for _ in range(config.d_steps):
            real = reals[position]
            position += 1
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
    reals = {int(seed): _real_batches(config, int(seed), steps) for seed in seeds}
    start = time.perf_counter()
    for seed in seeds:
        _train_one_seed(config, int(seed), steps, reals[int(seed)])
    return time.perf_counter() - start


def jax_train_sweep(config: Config, seeds: Sequence[int], steps: int) -> Tuple[float, float]:
    """``(first, second)`` wall seconds of :func:`gan_jax.train.driver.train_members` training
    ``config`` for ``steps`` generator steps, all ``seeds`` at once, from fresh states: the
    first call includes compilation, the second reuses the compiled program."""
    config = dataclasses.replace(config, steps=steps, steps_per_call=min(config.steps_per_call, steps))
    chunk = make_chunk_fn(config, make_source(config))
    times = []
    for _ in range(2):
        start = time.perf_counter()
        states, _ = train_members(config, seeds, chunk_fn=chunk)
        jax.block_until_ready(states)
        times.append(time.perf_counter() - start)
    return times[0], times[1]


def flops_per_step(config: Config, members: int) -> float:
    """XLA's count of floating-point operations in one training step of ``members`` seeds
    (``cost_analysis`` of the compiled one-step chunk; nothing runs)."""
    import jax.numpy as jnp

    from gan_jax.train.sweep import init_members
    config = dataclasses.replace(config, steps_per_call=1)
    source = make_source(config)
    chunk = make_chunk_fn(config, source)
    n = members
    states = jax.eval_shape(lambda: init_members(config, list(range(n))))
    args = (states, jnp.ones((n,), bool), jnp.full((n,), -1, jnp.int32), jnp.arange(n, dtype=jnp.int32),
            jnp.int32(0), jnp.zeros((n,), jnp.int32), source.device_arrays)
    cost = chunk.lower(*args, steps=1).compile().cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    return float(cost["flops"])


def _seconds_per_call(fn, *args, repeats: int = 200) -> float:
    jax.block_until_ready(fn(*args))
    start = time.perf_counter()
    for _ in range(repeats):
        out = fn(*args)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / repeats


def kernel_rates(config: Config) -> dict:
    """What the step is made of, timed alone: GFLOP/s of G's first matrix product
    (B x latent_dim times latent_dim x hidden) and of its weight gradient, and milliseconds
    to draw one batch of latents (the step draws two: one for D's step, one for G's)."""
    import jax.numpy as jnp
    b, k, n = config.batch_size, config.latent_dim, config.mlp_hidden
    x, w, g = jnp.ones((b, k)), jnp.ones((k, n)), jnp.ones((b, n))
    flops = 2.0 * b * k * n
    forward = _seconds_per_call(jax.jit(lambda x, w: x @ w), x, w)
    weight_grad = _seconds_per_call(jax.jit(lambda x, g: x.T @ g), x, g)
    draw = _seconds_per_call(jax.jit(lambda key: jax.random.normal(key, (b, k))), jax.random.PRNGKey(0))
    return {"matmul_gflops": flops / forward / 1e9, "weight_grad_gflops": flops / weight_grad / 1e9,
            "latent_draw_ms": 1e3 * draw}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="ring8", help="an MLP preset (default ring8)")
    parser.add_argument("--seeds", type=int, default=5, help="number of seeds, 0..N-1 (default 5)")
    parser.add_argument("--steps", type=int, default=1000, help="generator steps per seed (default 1000)")
    parser.add_argument("--out", help="also write the numbers to this JSON file")
    args = parser.parse_args(argv)
    entry_point_setup()  # an entry point: the project's PRNG choice, as gan-jax makes it
    config = get_config(args.config)
    seeds = list(range(args.seeds))
    one_first, one = jax_train_sweep(config, seeds[:1], args.steps)
    many_first, many = jax_train_sweep(config, seeds, args.steps)
    torch_seconds = torch_train_sequential(config, seeds, args.steps)
    flops_one, flops_many = flops_per_step(config, 1), flops_per_step(config, args.seeds)
    rate_one, rate_many = flops_one * args.steps / one / 1e9, flops_many * args.steps / many / 1e9
    kernels = kernel_rates(config)
    result = {"config": args.config, "seeds": args.seeds, "steps": args.steps,
              "steps_per_call": config.steps_per_call, "jax_one_seed_s": one, "jax_sweep_s": many,
              "jax_one_seed_with_compile_s": one_first, "jax_sweep_with_compile_s": many_first,
              "torch_sequential_s": torch_seconds, "sweep_over_one_seed": many / one,
              "torch_over_sweep": torch_seconds / many, "torch_over_sweep_with_compile": torch_seconds / many_first,
              "xla_flops_per_step_one_seed": flops_one, "xla_flops_per_step_sweep": flops_many,
              "gflops_per_s_one_seed": rate_one, "gflops_per_s_sweep": rate_many, "kernels": kernels,
              "provenance": collect_provenance()}
    print(f"{args.config}, {args.steps} steps per seed, batch {config.batch_size}, steps_per_call "
          f"{config.steps_per_call} ({jax.default_backend()}):\n"
          f"  gan_jax, 1 seed:           {one:7.2f} s (first call, with compilation: {one_first:.2f} s)\n"
          f"  gan_jax, {args.seeds} seeds vmapped:  {many:7.2f} s (with compilation: {many_first:.2f} s)\n"
          f"  PyTorch eager, {args.seeds} seeds one after another (2 threads): {torch_seconds:.2f} s\n"
          f"  {args.seeds} seeds cost {many / one:.2f}x one seed; the sweep is {torch_seconds / many:.1f}x faster "
          f"than PyTorch ({torch_seconds / many_first:.1f}x counting compilation)\n"
          f"  XLA counts {flops_one / 1e6:.1f} MFLOP per step for 1 seed, {flops_many / 1e6:.1f} for {args.seeds}: "
          f"{rate_one:.0f} and {rate_many:.0f} GFLOP/s achieved\n"
          f"  alone: G's first matmul {kernels['matmul_gflops']:.0f} GFLOP/s, its weight gradient "
          f"{kernels['weight_grad_gflops']:.0f} GFLOP/s; one batch of latents {kernels['latent_draw_ms']:.2f} ms "
          f"(two per step)")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
