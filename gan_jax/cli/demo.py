"""``gan-jax demo NAME``: run one of the theory experiments under ``experiments/``.

The experiments are scripts in the repository's top-level ``experiments/``
folder (not part of the installed package), so this command works from a
source checkout. Each script has ``main(argv)``; the arguments after NAME are
passed on (e.g. ``gan-jax demo js_divergence --out /tmp/js``).
"""

import argparse
import importlib.util
import os
import sys

from gan_jax.errors import UserError

__all__ = ["DEMOS", "register", "experiments_dir", "run_demo"]

#: Name -> what the experiment shows.
DEMOS = {
    "js_divergence": "KL/JS of N(0,1) and N(1,1), D* and L(D*, G) = -2 log 2 + 2 JS",
    "optimal_discriminator": "a D trained with d_step against the analytic D* = p_r / (p_r + p_g)",
    "saturation": "vanishing gradients of the saturating generator cost when p_r and p_g barely overlap",
    "naive_vs_k_steps": "the naive algorithm (D to convergence) against k = 1, 2 D steps per G step",
    "bilinear_game": "f = xy under simultaneous/alternating/optimistic/extragradient/consensus updates",
    "dirac_gan": "the Dirac-GAN under every training method: Jacobian verdicts, trajectories, GIF",
}


def register(subparsers) -> None:
    """Add the ``demo`` command to ``subparsers``."""
    p = subparsers.add_parser(
        "demo", help="run a theory experiment (gan-jax demo --list)",
        description="Run experiments/NAME.py; arguments after NAME go to the script. "
                    "Example: gan-jax demo bilinear_game --out /tmp/bilinear")
    p.add_argument("name", nargs="?", help="experiment name (see --list)")
    p.add_argument("--list", action="store_true", help="list the experiments and exit")
    p.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments for the script, e.g. --out DIR")
    p.set_defaults(func=run_demo)


def experiments_dir() -> str:
    """The ``experiments/`` folder beside the ``gan_jax`` package in a source checkout."""
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(os.path.dirname(package_dir), "experiments")
    if not os.path.isdir(path):
        raise UserError(f"experiments folder not found at {path}: `gan-jax demo` needs a source "
                        "checkout of gan_jax (git clone, then pip install -e .)")
    return path


def run_demo(args):
    """List the experiments (``--list``) or run ``experiments/NAME.py`` with the remaining arguments;
    returns the script's exit status."""
    if args.list:
        width = max(map(len, DEMOS))
        for name, text in DEMOS.items():
            print(f"{name:{width}s}  {text}")
        return None
    if not args.name:
        raise UserError("name an experiment (gan-jax demo NAME) or list them with gan-jax demo --list")
    if args.name not in DEMOS:
        raise UserError(f"unknown demo {args.name!r}; choose one of {', '.join(DEMOS)} (gan-jax demo --list)")
    folder = experiments_dir()
    path = os.path.join(folder, f"{args.name}.py")
    if not os.path.isfile(path):
        raise UserError(f"experiment script {path} is missing from the checkout")
    spec = importlib.util.spec_from_file_location(f"gan_jax_demo_{args.name}", path)
    module = importlib.util.module_from_spec(spec)
    # The scripts import their shared helper `_common` from their own folder.
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
        module.main(list(args.script_args))
    finally:
        sys.path.remove(folder)
    return None
