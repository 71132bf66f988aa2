"""Does unrolling cure mode collapse on the ring? Metz et al.'s setting, and ours, one change at a time.

Metz, Poole, Pfau & Sohl-Dickstein (ICLR 2017, "Unrolled Generative
Adversarial Networks", section 3.1 and Figure 1) train on a ring of 8
Gaussians; their demo notebook (github.com/poolio/unrolled_gan, "Unrolled GAN
demo.ipynb", read at commit 67e2c7a) sets: batch 512, z ~ N(0, I) of 256
dimensions, G and D each 2 hidden layers of 128 tanh units, orthogonal
initialisation with gain 1.4, Adam (beta1 0.5, eps 1e-8) with D at 1e-4 and G
at 1e-3, 25,000 iterations, k = 5 unrolled Adam steps of D (with its moments),
G minimising f_K = f(theta_G, theta_D^K(theta_G)) where f is the full minimax
value (its real-data term depends on G through the unroll) on the same x and
z in every unrolled step, and G and D updated simultaneously from the same
point. The notebook's ring puts its 8 means at linspace(0, 2 pi, 8), so its
first and last coincide (7 distinct modes); we keep our ring of 8 distinct
Gaussians (radius 1, std 0.01).

Variants (``VARIANTS``): ``issue_k0/k5/k10`` is the setting the issue quotes
(batch 512, Adam 1e-4 for both, beta1 0.5, z 256, 2 x 128 MLPs) on our
defaults (ReLU / LeakyReLU, LeCun init, G's own non-saturating loss against
the unrolled D with fresh z per unrolled step, alternating updates);
``notebook_k0/k5/k10`` is the notebook's setting; ``plain_k5`` is the
``ring8`` preset with k = 5 (the row of ``mode_collapse_2d`` that collapsed),
and every ``plain_k5+X`` changes one thing of it toward the notebook.

Each variant trains its seeds together through :func:`gan_jax.train.driver.train_members`
and is scored on 2,500 samples per seed as in :mod:`experiments.mode_collapse_2d`
(modes captured, high-quality share, and the share of samples on the most
populated mode: near 100 % is a collapse onto one mode).

Writes ``results.json``, ``table.md`` and ``samples.png`` (one row per variant,
one column per seed) to ``--out`` (default ``experiments/results/unrolled_ring``);
rows of variants not run again are kept.

    python experiments/unrolled_ring.py --variants plain_k5 plain_k5+minimax --seeds 0 1 2 3 4
    python experiments/unrolled_ring.py --variants notebook_k0 notebook_k5 --steps 5000
"""

import argparse
import json
import os
import sys
import time

import jax
import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments._common import (  # noqa: E402
    check_seeds,
    experiment_config,
    make_out_dir,
    plt,
    read_saved_json,
    run_main,
    train_with_progress,
)
from experiments.mode_collapse_2d import evaluate, summarise  # noqa: E402
from gan_jax.config.schema import config_to_dict  # noqa: E402
from gan_jax.core.steps import generate  # noqa: E402
from gan_jax.errors import UserError  # noqa: E402
from gan_jax.metrics.mode_coverage import benchmark_mixture  # noqa: E402
from gan_jax.runs.provenance import collect_provenance  # noqa: E402
from gan_jax.train.sweep import member  # noqa: E402

ISSUE = ["batch_size=512", "lr_g=1e-4", "lr_d=1e-4", "beta1=0.5", "latent_dim=256", "mlp_hidden=128",
         "mlp_depth=2", "steps=20000"]
NOTEBOOK = ["batch_size=512", "lr_g=1e-3", "lr_d=1e-4", "beta1=0.5", "latent_dim=256", "mlp_hidden=128",
            "mlp_depth=2", "steps=25000", "mlp_activation=tanh", "mlp_init=orthogonal", "mlp_init_gain=1.4",
            "unroll_objective=minimax", "unroll_shared_latent=true", "simultaneous=true"]
# One change at a time, from the ring8 preset with k = 5 toward the notebook.
STEPS_TOWARD_NOTEBOOK = {
    "minimax": ["unroll_objective=minimax"],
    "shared_z": ["unroll_shared_latent=true"],
    "minimax+shared_z": ["unroll_objective=minimax", "unroll_shared_latent=true"],
    "saturating": ["g_loss=saturating"],
    "simultaneous": ["simultaneous=true"],
    "tanh_orthogonal": ["mlp_activation=tanh", "mlp_init=orthogonal", "mlp_init_gain=1.4"],
    "lr_d_1e-4": ["lr_d=1e-4"],
    "batch512": ["batch_size=512"],
}
VARIANTS = {
    **{f"issue_k{k}": ISSUE + [f"unroll_steps={k}"] for k in (0, 5, 10)},
    # With k = 0 the notebook's f_0 is the value function itself: G takes the saturating loss.
    "notebook_k0": [o for o in NOTEBOOK if not o.startswith("unroll_")] + ["unroll_steps=0", "g_loss=saturating"],
    **{f"notebook_k{k}": NOTEBOOK + [f"unroll_steps={k}"] for k in (5, 10)},
    "plain_k5": ["unroll_steps=5"],
    **{f"plain_k5+{name}": ["unroll_steps=5"] + changes for name, changes in STEPS_TOWARD_NOTEBOOK.items()},
}


def variant_config(name, steps=None, extra=()):
    """The Config of variant ``name``; a UserError now, before any training, if its keys
    do not combine (the objective's own checks, :func:`gan_jax.config.build.build_objective`)."""
    overrides = VARIANTS[name] + ([f"steps={steps}"] if steps else []) + list(extra)
    return experiment_config("ring8", overrides, f"unrolled_ring-{name.replace('+', '.')}")


def collapsed_onto_one_mode(row):
    """A seed collapsed: its high-quality samples all sit on one mode, and they are at least
    half of its samples (a generator that puts nothing near any mode has not collapsed, it
    has failed to learn)."""
    return row["modes"] == 1 and row["largest_mode_share"] >= 0.5


def markdown_table(results):
    lines = ["| variant | k | steps | modes (of 8) | high quality % | largest mode's share % | seeds collapsed "
             "onto one mode | seeds | train s |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, r in results.items():
        s, rows = r["summary"], r["seeds"]
        share = 100 * np.array([row["largest_mode_share"] for row in rows])
        collapsed = sum(collapsed_onto_one_mode(row) for row in rows)
        lines.append(f"| {name} | {r['config']['unroll_steps']} | {r['config']['steps']} | "
                     f"{s['modes_mean']:.1f} ± {s['modes_std']:.1f} | {s['hq_mean']:.1f} ± {s['hq_std']:.1f} | "
                     f"{share.mean():.1f} | {collapsed} of {len(rows)} | {len(rows)} | {r['train_seconds']:.0f} |")
    lines += ["", "± is the standard deviation over seeds; 2,500 samples per seed (held-out latent key). "
              "Largest mode's share: the high-quality samples of the most populated mode, in % of all samples. "
              "Published (VEEGAN Table 1, unrolled GAN k=5 on the ring): 7.6 modes, 35.6 % high quality."]
    return "\n".join(lines) + "\n"


def plot(results, samples, path):
    names = [n for n in results if n in samples]
    if not names:
        return
    cols = max(len(samples[n]) for n in names)
    fig, axes = plt.subplots(len(names), cols, figsize=(1.8 * cols, 1.8 * len(names)), squeeze=False)
    centers, _ = benchmark_mixture("ring8")
    for i, name in enumerate(names):
        for j in range(cols):
            ax = axes[i, j]
            ax.set_xticks([]), ax.set_yticks([])
            ax.set_xlim(-1.6, 1.6), ax.set_ylim(-1.6, 1.6)
            if j >= len(samples[name]):
                ax.axis("off")
                continue
            x = np.asarray(samples[name][j])
            ax.scatter(np.asarray(centers)[:, 0], np.asarray(centers)[:, 1], s=12, c="tab:green", marker="x")
            ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.4)
        axes[i, 0].set_ylabel(name, fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--steps", type=int, help="train every variant this many steps instead of its own")
    parser.add_argument("--set", nargs="*", default=[], help="extra key=value overrides for every variant")
    parser.add_argument("--out", default="experiments/results/unrolled_ring")
    args = parser.parse_args(argv)
    check_seeds(args.seeds)
    if args.steps is not None and args.steps < 1:
        raise UserError(f"--steps {args.steps}: give a positive number of steps")
    configs = {v: variant_config(v, args.steps, args.set) for v in args.variants}   # every override checked first
    make_out_dir(args.out)
    path = os.path.join(args.out, "results.json")
    saved = read_saved_json(path, {})
    results, samples = saved.get("variants", {}), saved.get("samples", {})
    for name in tqdm(args.variants, desc="variants"):
        config = configs[name]
        start = time.time()
        states, diverged = train_with_progress(config, args.seeds)
        seconds = time.time() - start
        rows = evaluate(config, states, args.seeds)
        results.pop(name, None)
        results[name] = {"config": config_to_dict(config), "seeds": rows, "summary": summarise(rows),
                         "diverged": {str(k): v for k, v in diverged.items()}, "train_seconds": seconds,
                         "provenance": collect_provenance()}
        samples[name] = [np.asarray(generate(member(states, i), jax.random.PRNGKey(12345), 500)).round(4).tolist()
                         for i in range(len(args.seeds))]
        s = results[name]["summary"]
        print(f"{name}: modes {s['modes_mean']:.1f} ± {s['modes_std']:.1f}, high quality {s['hq_mean']:.1f} %, "
              f"largest mode {100 * np.mean([r['largest_mode_share'] for r in rows]):.1f} % ({seconds:.0f} s)",
              flush=True)
        with open(path, "w") as f:   # after every variant, so a long run keeps what it finished
            json.dump({"variants": results, "samples": samples}, f)
        with open(os.path.join(args.out, "table.md"), "w") as f:
            f.write(markdown_table(results))
        plot(results, samples, os.path.join(args.out, "samples.png"))
    print(open(os.path.join(args.out, "table.md")).read())


if __name__ == "__main__":
    run_main(main)
