"""``gan-jax mode-coverage``: the VEEGAN/PacGAN mode-collapse measures of saved 2-D samples."""

import os

from gan_jax.errors import UserError, from_core

__all__ = ["register", "run_mode_coverage"]


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "mode-coverage", help="modes captured and %% high-quality samples on ring8/grid25",
        description="Score samples from `gan-jax sample --out samples.npz` with the VEEGAN/PacGAN "
                    "rule. Example: gan-jax mode-coverage samples.npz --data ring8")
    p.add_argument("samples", help=".npz file with a (N, 2) array 'samples'")
    p.add_argument("--data", required=True, choices=["ring8", "grid25"], help="which mixture")
    p.set_defaults(func=run_mode_coverage)


def run_mode_coverage(args) -> None:
    import jax.numpy as jnp
    import numpy as np

    from gan_jax.metrics.mode_coverage import (
        EVAL_SAMPLES,
        benchmark_mixture,
        mode_coverage,
    )
    if not os.path.isfile(args.samples):
        raise UserError(f"samples file {args.samples} does not exist")
    try:
        with np.load(args.samples, allow_pickle=False) as f:
            if "samples" not in f.files:
                raise UserError(f"{args.samples} has arrays {sorted(f.files)}; expected 'samples'")
            samples = f["samples"]
    except (OSError, ValueError) as e:
        raise UserError(f"cannot read {args.samples} as .npz ({e})") from None
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise UserError(f"samples have shape {samples.shape}; mode coverage needs (N, 2) points")
    with from_core():
        centers, std = benchmark_mixture(args.data)
        out = mode_coverage(jnp.asarray(samples, jnp.float32), centers, std)
    note = "" if len(samples) == EVAL_SAMPLES else f" (the papers use {EVAL_SAMPLES} samples)"
    print(f"{len(samples)} samples{note}: {int(out['modes_captured'])}/{len(centers)} modes captured, "
          f"{100 * float(out['high_quality_fraction']):.1f}% high-quality samples")
