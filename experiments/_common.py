"""Shared shell for the theory experiments: --out handling, results.json, figures."""

import argparse
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["parse_args", "write_results", "save_figure", "plt"]


def parse_args(name, description, argv, add_arguments=None):
    """Parse ``--out DIR`` (default experiments/results/NAME) plus the script's own options."""
    parser = argparse.ArgumentParser(prog=f"{name}.py", description=description)
    parser.add_argument("--out", default=os.path.join("experiments", "results", name),
                        help="folder for the figure and results.json")
    parser.add_argument("--seed", type=int, default=0)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    return args


def write_results(out, results):
    """Write ``results`` (floats, ints, lists, strings) to out/results.json; return the path."""
    path = os.path.join(out, "results.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    return path


def save_figure(fig, out, filename):
    """Save and close a matplotlib figure as out/filename; return the path."""
    path = os.path.join(out, filename)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
