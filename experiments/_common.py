"""Shared shell for the experiments: --out handling, results.json (with the
provenance of the result), figures, and the entry point's setup."""

import argparse
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gan_jax.errors import UserError  # noqa: E402
from gan_jax.runs.provenance import collect_provenance, entry_point_setup  # noqa: E402

__all__ = ["parse_args", "make_out_dir", "read_saved_json", "check_seeds", "experiment_config", "train_with_progress", "score_generators", "summarise_generators", "summary_rows", "write_results", "save_figure", "plt", "run_main"]


class _OneLineParser(argparse.ArgumentParser):
    """argparse whose usage errors are a UserError (one line, exit status 2, also inside
    ``gan-jax demo``) instead of a usage block."""

    def error(self, message):
        raise UserError(f"{message} (see {self.prog} --help)")


def parse_args(name, description, argv, add_arguments=None):
    """Parse ``--out DIR`` (default experiments/results/NAME) plus the script's own options."""
    parser = _OneLineParser(prog=f"{name}.py", description=description)
    parser.add_argument("--out", default=os.path.join("experiments", "results", name),
                        help="folder for the figure and results.json")
    parser.add_argument("--seed", type=int, default=0)
    if add_arguments:
        add_arguments(parser)
    args = parser.parse_args(argv)
    make_out_dir(args.out)
    return args


def make_out_dir(out):
    """Create the results folder ``out`` (and its parents) if missing; a UserError naming
    the problem when it cannot be (a file of that name, no permission)."""
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise UserError(f"--out {out}: cannot create the results folder ({e.strerror}); "
                        "choose another --out") from None


def read_saved_json(path, default):
    """The JSON object in ``path`` (an earlier run's results), ``default`` when there is no
    such file; a UserError when the file is not a valid JSON object (truncated, edited), so
    that nothing is overwritten by a run that could not read it."""
    if not os.path.exists(path):
        return default
    try:
        with open(path) as f:
            saved = json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON ({e}); move it away or choose another --out") from None
    if not isinstance(saved, dict):
        raise UserError(f"{path} holds a JSON {type(saved).__name__}, not the results of a run; "
                        "move it away or choose another --out")
    return saved


def check_seeds(seeds):
    """``seeds`` unchanged when they are distinct non-negative integers, else a UserError."""
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise UserError(f"--seeds {seeds}: give distinct non-negative integers")
    return seeds


def experiment_config(preset, overrides, name):
    """``get_config(preset, overrides)`` named ``name``; a UserError now, before any training,
    when the keys do not combine (the objective's own checks, :func:`gan_jax.config.build.build_objective`)."""
    import dataclasses

    from gan_jax.config.build import build_objective
    from gan_jax.config.schema import get_config
    config = get_config(preset, list(overrides))
    build_objective(config)
    return dataclasses.replace(config, name=name)


def train_with_progress(config, seeds, hooks=(), stop_at=()):
    """:func:`gan_jax.train.driver.train_members` (every seed of ``config`` trained together) with a
    progress bar over its steps; ``hooks`` are also called at each chunk boundary (with a
    :class:`gan_jax.train.driver.Boundary`). Returns ``(states, {seed: step} of the diverged
    seeds)``, the states ready."""
    import jax
    from tqdm import tqdm

    from gan_jax.train.driver import train_members
    bar = tqdm(total=config.steps, desc=f"{config.name} ({len(seeds)} seeds)", leave=False)

    def show(boundary):
        bar.update(boundary.done - bar.n)

    states, diverged = train_members(config, seeds, hooks=[*hooks, show], stop_at=stop_at)
    jax.block_until_ready(states)
    bar.close()
    return states, diverged


def score_generators(state, score, num_classes=None):
    """Scores of a trained state as ``gan-jax sample`` would draw from it, and of G as trained.

    ``score(state, averaged) -> dict`` scores the samples of ``state``'s generator average
    (``averaged`` True) or of G as trained. Without an average: ``score(state, False)``.
    With one: the average's scores, its batch statistics measured afresh first
    (:func:`gan_jax.runs.sampling.recalibrated_average`, as sampling from a run does),
    and G as trained's under the same keys prefixed ``raw_`` (``num_classes``: a conditional
    generator's classes)."""
    from gan_jax.runs.sampling import recalibrated_average
    raw = score(state, False)
    if state.g_average is None:
        return raw
    return {**score(recalibrated_average(state, num_classes), True),
            **{f"raw_{name}": value for name, value in raw.items()}}


def summarise_generators(rows, summarise):
    """``{"summary": summarise(rows)}``, plus ``"raw_summary"`` (``summarise(rows, "raw_")``, G as
    trained) where the rows were scored with a generator average (:func:`score_generators`)."""
    raw = {"raw_summary": summarise(rows, "raw_")} if any(k.startswith("raw_") for k in rows[0]) else {}
    return {"summary": summarise(rows), **raw}


def summary_rows(result):
    """A result's table rows as ``(label suffix, summary)``: one unlabelled row, or the average's
    and G as trained's where it has both (:func:`summarise_generators`)."""
    if "raw_summary" not in result:
        return [("", result["summary"])]
    return [(", average", result["summary"]), (", as trained", result["raw_summary"])]


def write_results(out, results):
    """Write ``results`` (floats, ints, lists, strings) to out/results.json with
    their ``provenance`` (:func:`gan_jax.runs.provenance.collect_provenance`); return the path."""
    path = os.path.join(out, "results.json")
    with open(path, "w") as f:
        json.dump({**results, "provenance": collect_provenance()}, f, indent=2)
    return path


def save_figure(fig, out, filename):
    """Save and close a matplotlib figure as out/filename; return the path."""
    path = os.path.join(out, filename)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def run_main(main):
    """Run an experiment's ``main(argv)`` on the command line's arguments, after
    the entry point's setup (:func:`gan_jax.runs.provenance.entry_point_setup`); a
    :class:`UserError` (bad input) becomes one line on stderr and exit status 2."""
    entry_point_setup()
    try:
        main(sys.argv[1:])
    except UserError as e:
        print(f"{os.path.basename(sys.argv[0])}: error: {e}", file=sys.stderr)
        raise SystemExit(2)
