"""Generator averaging: how much a run's result depends on where training stops,
for the generator as trained and for its exponential moving average.

    python experiments/generator_averaging.py --runs runs/ring8_ema [RUN ...] --out DIR [--last 10] [--diagnose]

Each run (a single run, or a sweep whose seeds are in seed_*/) must have been
trained with ``g_average_decay`` > 0: every evaluation during training then
scored both the average and the generator as trained (the ``raw_`` keys of
metrics.jsonl), so one training gives both columns (averaging reads the
training, it never changes it). Per seed: the final step's scores, and the
lowest and highest of the last ``--last`` evaluations, averaged and raw; a figure
of the scores over training. ``--diagnose`` scores each seed's last checkpoint
again: with 10 other sample sets (the evaluation's own noise), with batch norm
on the samples' own batch statistics instead of the running averages, the
average's parameters with running statistics measured on themselves (100 batches
of latents at the layers' momentum, what training keeps now), and from its
earlier kept checkpoints (how far the parameters and the running statistics
moved between them).
"""

import glob
import json
import os

import jax
import numpy as np
from _common import parse_args, plt, run_main, save_figure, write_results

from gan_jax.core.state import apply_generator, averaged_generator, recalibrate_average_statistics, sample_latent
from gan_jax.errors import UserError
from gan_jax.evaluation.training_evaluator import make_training_evaluator
from gan_jax.runs.checkpoint import Checkpointer, restore_run

LOWER_IS_BETTER = ("fid", "kid", "kl")


def seed_dirs(run: str) -> list:
    """The run itself, or its seed_*/ folders (a sweep), in seed order."""
    seeds = glob.glob(os.path.join(run, "seed_*"))
    if seeds:
        return sorted(seeds, key=lambda d: int(d.rsplit("_", 1)[1]))
    if os.path.isfile(os.path.join(run, "metrics.jsonl")):
        return [run]
    raise UserError(f"{run} holds neither metrics.jsonl nor seed_*/ folders; pass a run directory")


def evaluations(run_dir: str) -> list:
    """The rows of ``run_dir``'s metrics.jsonl that hold both averaged and raw scores."""
    rows = []
    with open(os.path.join(run_dir, "metrics.jsonl"), encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                row = json.loads(line)
            except ValueError:
                continue
            if isinstance(row, dict) and any(k.startswith("raw_") for k in row):
                rows.append(row)
    if not rows:
        raise UserError(f"{run_dir}/metrics.jsonl has no evaluation of both generators; train with "
                        "g_average_decay > 0 and eval_every > 0")
    return rows


def summarise(rows: list, last: int) -> dict:
    """Per score: the final value and the range over the last ``last`` evaluations, both generators."""
    names = sorted(k[len("raw_"):] for k in rows[-1] if k.startswith("raw_") and k[len("raw_"):] in rows[-1])
    tail = rows[-last:]
    out = {"final_step": rows[-1]["step"], "evaluations": len(tail)}
    for name in names:
        for label, key in (("averaged", name), ("raw", f"raw_{name}")):
            values = [r[key] for r in tail]
            out[f"{label}_{name}"] = {"final": rows[-1][key], "min_last": min(values), "max_last": max(values)}
    return out


def diagnose(run_dir: str, samples: int, repeats: int = 10) -> dict:
    """The last checkpoint scored with other sample sets and with batch statistics; the drift of
    the parameters and of the running statistics between the kept checkpoints."""
    config, state = restore_run(run_dir)
    raw = averaged_generator(state, averaged=False)
    scores = {"sample_sets": [], "sample_sets_averaged": []}
    for i in range(repeats):
        evaluator, _ = make_training_evaluator(config, samples, jax.random.PRNGKey(1000 + i))
        both = evaluator.evaluate(state)
        scores["sample_sets"].append({k[4:]: v for k, v in both.items() if k.startswith("raw_")})
        scores["sample_sets_averaged"].append({k: v for k, v in both.items() if not k.startswith("raw_")})
    z = sample_latent(jax.random.PRNGKey(1000), samples, state.latent_dim, state.latent_dist)
    batch_mode = np.asarray(apply_generator(raw, raw.g_params, z, train=True)[0])
    scores["batch_statistics"] = evaluator.score(batch_mode)
    averaged = averaged_generator(recalibrate_average_statistics(state, jax.random.PRNGKey(2000), batches=100,
                                                                 batch_size=config.batch_size))
    scores["averaged_own_running_statistics"] = evaluator.score(
        np.asarray(apply_generator(averaged, averaged.g_params, z, train=False)[0]))
    checkpointer = Checkpointer(run_dir)
    steps = checkpointer.all_steps()
    drift = []
    previous = None
    for step in steps:
        restored, _ = checkpointer.restore(jax.eval_shape(lambda: state), step)
        if previous is not None:
            drift.append({"from": previous[0], "to": step,
                          "params": _relative_change(previous[1].g_params, restored.g_params),
                          "running_statistics": _relative_change(previous[1].g_batch_stats, restored.g_batch_stats)})
        previous = (step, restored)
    checkpointer.close()
    scores["checkpoint_drift"] = drift
    return scores


def _relative_change(a, b) -> float:
    """||b - a|| / ||a|| over every leaf of two pytrees of one structure."""
    diff = sum(float(np.sum((np.asarray(y, np.float64) - np.asarray(x, np.float64)) ** 2))
               for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    norm = sum(float(np.sum(np.asarray(x, np.float64) ** 2)) for x in jax.tree.leaves(a))
    return float(np.sqrt(diff / max(norm, 1e-30)))


def plot(curves: dict, out: str) -> None:
    names = sorted({k for rows in curves.values() for k in rows[-1] if f"raw_{k}" in rows[-1]})
    fig, axes = plt.subplots(1, len(names), figsize=(6 * len(names), 4.2), squeeze=False)
    for ax, name in zip(axes[0], names):
        for i, (label, rows) in enumerate(curves.items()):
            steps = [r["step"] for r in rows]
            ax.plot(steps, [r[f"raw_{name}"] for r in rows], color=f"C{i}", lw=0.7, alpha=0.5)
            ax.plot(steps, [r[name] for r in rows], color=f"C{i}", lw=1.5, label=label)
        ax.set(xlabel="generator step", ylabel=name,
               title=f"{name}: average (thick) and generator as trained (thin)")
        ax.legend(fontsize=7)
    save_figure(fig, out, "generator_averaging.png")


def main(argv=None):
    def options(p):
        p.add_argument("--runs", nargs="+", required=True, help="run directories (sweeps or single runs)")
        p.add_argument("--last", type=int, default=10, help="evaluations counted in the spread (1..1000)")
        p.add_argument("--diagnose", action="store_true", help="score the last checkpoints again (slow)")
        p.add_argument("--diagnose-samples", type=int, default=1000)
    args = parse_args("generator_averaging", __doc__.split("\n")[0], argv, options)
    if not 1 <= args.last <= 1000:
        raise UserError(f"--last {args.last}: give 1 to 1000 evaluations")
    results, curves = {}, {}
    for run in args.runs:
        for seed_dir in seed_dirs(run):
            label = f"{os.path.basename(os.path.normpath(run))}/{os.path.basename(seed_dir)}"
            rows = evaluations(seed_dir)
            curves[label] = rows
            results[label] = summarise(rows, args.last)
            if args.diagnose:
                results[label]["diagnosis"] = diagnose(seed_dir, args.diagnose_samples)
    plot(curves, args.out)
    write_results(args.out, results)
    for label, r in results.items():
        parts = [f"{k} {v['final']:.4g} [{v['min_last']:.4g}, {v['max_last']:.4g}]"
                 for k, v in r.items() if isinstance(v, dict) and "final" in v]
        print(f"{label} step {r['final_step']}: " + "; ".join(parts))
    return results


if __name__ == "__main__":
    run_main(main)
