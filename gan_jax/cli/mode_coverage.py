"""``gan-jax mode-coverage``: the VEEGAN/PacGAN mode-collapse measures of saved 2-D samples."""

from gan_jax.errors import UserError, from_core

__all__ = ["register", "run_mode_coverage"]

MAX_POINTS = 10_000_000   # 80 MB of float32 points, read whole


def register(subparsers) -> None:
    """Add the ``mode-coverage`` command to ``subparsers``."""
    p = subparsers.add_parser(
        "mode-coverage", help="modes captured and %% high-quality samples on ring8/grid25",
        description="Score samples from `gan-jax sample --out samples.npz` with the VEEGAN/PacGAN "
                    "rule. Example: gan-jax mode-coverage samples.npz --data ring8")
    p.add_argument("samples", help=f".npz file with a (N, 2) array 'samples', N at most {MAX_POINTS:,}")
    p.add_argument("--data", required=True, choices=["ring8", "grid25"], help="which mixture")
    p.set_defaults(func=run_mode_coverage)


def _read_points(path: str):
    """The ``(N, 2)`` array ``samples`` of the ``.npz`` at ``path``, checked from its header first
    (:mod:`gan_jax.data.files`: a damaged file or one that is no ``.npz`` is one line)."""
    from gan_jax.data import files as data_files
    headers = data_files.npz_headers(path)
    if "samples" not in headers:
        raise UserError(f"{path} has arrays {sorted(headers)}; expected 'samples'")
    shape, _ = headers["samples"]
    if len(shape) != 2 or shape[1] != 2:
        raise UserError(f"samples have shape {shape}; mode coverage needs (N, 2) points")
    if not 1 <= shape[0] <= MAX_POINTS:
        raise UserError(f"{path} holds {shape[0]:,} points; mode coverage takes 1 to {MAX_POINTS:,}")
    return data_files.read_npz_array(path, "samples")


def run_mode_coverage(args) -> None:
    """Print the modes captured and the share of high-quality samples of a ``.npz`` of 2-D points
    on the ``ring8`` or ``grid25`` benchmark."""
    import jax.numpy as jnp
    import numpy as np

    from gan_jax.metrics.mode_coverage import (
        EVAL_SAMPLES,
        benchmark_mixture,
        mode_coverage,
    )
    samples = _read_points(args.samples)
    if not np.issubdtype(samples.dtype, np.number) or not np.all(np.isfinite(samples)):
        raise UserError(f"samples in {args.samples} must be finite numbers, got dtype {samples.dtype}")
    with from_core():
        centers, std = benchmark_mixture(args.data)
        out = mode_coverage(jnp.asarray(samples, jnp.float32), centers, std)
    note = "" if len(samples) == EVAL_SAMPLES else f" (the papers use {EVAL_SAMPLES} samples)"
    print(f"{len(samples)} samples{note}: {int(out['modes_captured'])}/{len(centers)} modes captured, "
          f"{100 * float(out['high_quality_fraction']):.1f}% high-quality samples")
