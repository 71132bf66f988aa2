"""`gan-jax interpolate RUN_DIR`: a strip figure of latent interpolations."""

import os

from gan_jax.cli.options import bounded_int, generator_option, seed_option
from gan_jax.errors import UserError, from_core

__all__ = ["register", "run_interpolate"]

# At most 64 x 64 = 4,096 images, the most a `gan-jax sample` grid holds: generated in one batch.
MAX_PAIRS = 64
MAX_STEPS = 64


def register(subparsers) -> None:
    """Add the ``interpolate`` command to ``subparsers``."""
    p = subparsers.add_parser("interpolate", help="figure of samples along latent paths between random pairs")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory made by gan-jax train")
    p.add_argument("--out", help="output .png (default: RUN_DIR/interpolation_<method>.png)")
    p.add_argument("--overwrite", action="store_true", help="replace the output if it exists")
    p.add_argument("--pairs", type=bounded_int(1, MAX_PAIRS), default=6,
                   help=f"number of (z0, z1) pairs, one row each, 1..{MAX_PAIRS} (default %(default)s)")
    p.add_argument("--steps", type=bounded_int(2, MAX_STEPS), default=10,
                   help=f"points per path, endpoints included, 2..{MAX_STEPS} (default %(default)s)")
    p.add_argument("--method", default="slerp", choices=("slerp", "lerp"),
                   help="slerp (default, for Gaussian latents) or lerp")
    p.add_argument("--label", type=int, help="conditional runs: the class of every row (default: row i gets class i)")
    seed_option(p, what="the latent pairs")
    generator_option(p)
    p.set_defaults(func=run_interpolate)


def run_interpolate(args) -> None:
    """Draw the strips and write them as one PNG, checked first: the output's name (an existing
    file only with ``--overwrite``) and the free space for it; written atomically."""
    import jax
    import numpy as np

    from gan_jax.config.build import data_shape
    from gan_jax.config.schema import label_classes
    from gan_jax.io import paths
    from gan_jax.io.figures import image_grid_bytes, save_image_grid
    from gan_jax.models.conditional import check_labels
    from gan_jax.runs.checkpoint import read_run_config, restore_run
    from gan_jax.runs.sampling import choose_generator, interpolation_strips
    out = args.out or os.path.join(args.run_dir, f"interpolation_{args.method}.png")
    if not out.endswith(".png"):
        raise UserError(f"--out must end in .png, got {out}")
    shape = tuple(data_shape(read_run_config(args.run_dir)))
    if len(shape) != 3:
        raise UserError(f"{args.run_dir} generates {shape} points, not images; interpolate needs an image run")
    paths.check_output_path(out, args.overwrite)
    paths.check_free_space(out, image_grid_bytes(args.pairs * args.steps, shape, ncols=args.steps))
    config, state = restore_run(args.run_dir)
    num_classes = label_classes(config)
    state = choose_generator(state, args.generator, args.run_dir, num_classes)
    labels = None
    with from_core():   # the model and the latent operations refuse bad labels or paths with a ValueError
        if num_classes is None and args.label is not None:
            check_labels(np.array([args.label]), 0)
        if num_classes is not None:
            labels = (np.full(args.pairs, args.label) if args.label is not None
                      else np.arange(args.pairs) % num_classes)
            check_labels(labels, num_classes)
        images = interpolation_strips(state, jax.random.PRNGKey(args.seed), args.pairs, args.steps,
                                      args.method, labels)
    save_image_grid(images, out, ncols=args.steps)
    print(f"wrote {out} ({args.pairs} {args.method} paths x {args.steps} steps)")
