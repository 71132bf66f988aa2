"""`gan-jax interpolate RUN_DIR`: a strip figure of latent interpolations."""

import os

from gan_jax.errors import UserError, from_core

__all__ = ["register", "run_interpolate"]


def register(subparsers) -> None:
    p = subparsers.add_parser("interpolate", help="figure of samples along latent paths between random pairs")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run directory made by gan-jax train")
    p.add_argument("--out", help="output .png (default: RUN_DIR/interpolation_<method>.png)")
    p.add_argument("--pairs", type=int, default=6, help="number of (z0, z1) pairs, one row each")
    p.add_argument("--steps", type=int, default=10, help="points per path, endpoints included")
    p.add_argument("--method", default="slerp", help="slerp (default, for Gaussian latents) or lerp")
    p.add_argument("--label", type=int, help="conditional runs: the class of every row (default: row i gets class i)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run_interpolate)


def run_interpolate(args) -> None:
    import jax
    import numpy as np

    from gan_jax.io.figures import save_image_grid
    from gan_jax.models.conditional import check_labels
    from gan_jax.runs.checkpoint import restore_run
    from gan_jax.runs.sampling import interpolation_strips
    if args.pairs < 1 or args.steps < 2:
        raise UserError(f"--pairs must be >= 1 and --steps >= 2, got {args.pairs} and {args.steps}")
    config, state = restore_run(args.run_dir)
    conditional = getattr(config, "conditional", "none") != "none"
    labels = None
    with from_core():   # the model and the latent operations refuse bad labels or paths with a ValueError
        if not conditional and args.label is not None:
            check_labels(np.array([args.label]), 0)
        if conditional:
            labels = (np.full(args.pairs, args.label) if args.label is not None
                      else np.arange(args.pairs) % config.num_classes)
            check_labels(labels, config.num_classes)
        images = interpolation_strips(state, jax.random.PRNGKey(args.seed), args.pairs, args.steps,
                                      args.method, labels)
    if images.ndim != 4:
        raise UserError(f"{args.run_dir} generates {images.shape[1:]} points, not images; "
                        "interpolate needs an image run")
    out = args.out or os.path.join(args.run_dir, f"interpolation_{args.method}.png")
    save_image_grid(images, out, ncols=args.steps)
    print(f"wrote {out} ({args.pairs} {args.method} paths x {args.steps} steps)")
