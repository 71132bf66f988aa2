"""Mode collapse on the 2-D ring and grid: ordinary, unrolled and WGAN-GP GANs.

Protocol (VEEGAN, Srivastava et al. 2017, section 5.1 and Table 1; PacGAN,
Lin et al. 2018, Table 1 and their code fjxmlzn/PacGAN): the ring is 8
Gaussians of std 0.01 on the unit circle, the grid 25 Gaussians of std 0.05
at (-4 + 2i, -4 + 2j); 2,500 samples per trained generator; a sample is
high quality within 3 std of its nearest mode; a mode is captured when it is
the nearest mode of at least one high-quality sample (see
:mod:`gan_jax.metrics.mode_coverage`). Each method runs over several seeds
(vmapped), and the evaluation samples use a latent key that training never
sees, so nothing is tuned on them.

Writes to ``--out`` (default ``experiments/results/mode_collapse_2d``):
``results.json``, ``table.md`` (ours beside the published rows) and
``samples_over_training_<data>.png`` (one row per method).

    python experiments/mode_collapse_2d.py --data ring8 grid25 --seeds 5
"""

import argparse
import dataclasses
import json
import os
import time

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
from tqdm import tqdm

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from gan_jax.build import init_state  # noqa: E402
from gan_jax.config import get_config  # noqa: E402
from gan_jax.data import sample_toy  # noqa: E402
from gan_jax.metrics.mode_coverage import EVAL_SAMPLES, benchmark_mixture, mode_coverage  # noqa: E402
from gan_jax.state import generate, train_step  # noqa: E402

# Published rows: (modes, % high quality). VEEGAN Table 1 (means of 5 runs);
# PacGAN Table 1 (means of 10 runs; their +- is the standard error).
PUBLISHED = {
    "ring8": [("GAN (VEEGAN Table 1)", "1", "99.3"),
              ("Unrolled GAN, k=5 (VEEGAN Table 1)", "7.6", "35.6"),
              ("VEEGAN (VEEGAN Table 1)", "8", "52.9"),
              ("GAN (PacGAN Table 1)", "6.3 ± 0.5", "98.2 ± 0.2"),
              ("PacGAN2 (PacGAN Table 1)", "7.9 ± 0.1", "95.6 ± 2.0"),
              ("PacGAN3 (PacGAN Table 1)", "7.8 ± 0.1", "97.7 ± 0.3")],
    "grid25": [("GAN (VEEGAN Table 1)", "3.3", "0.5"),
               ("Unrolled GAN, k=5 (VEEGAN Table 1)", "23.6", "16"),
               ("VEEGAN (VEEGAN Table 1)", "24.6", "40"),
               ("GAN (PacGAN Table 1)", "17.3 ± 0.8", "94.8 ± 0.7"),
               ("PacGAN3 (PacGAN Table 1)", "24.6 ± 0.4", "94.2 ± 0.4"),
               ("PacGAN4 (PacGAN Table 1)", "24.8 ± 0.2", "93.6 ± 0.6")],
}

# Method name -> config overrides on top of the data set's preset.
METHODS = {
    "gan_saturating": ["g_loss=saturating"],
    "gan_nonsaturating": [],
    "unrolled_k1": ["unroll_steps=1"],
    "unrolled_k5": ["unroll_steps=5"],
    "unrolled_k10": ["unroll_steps=10"],
    "unrolled_k5_stopgrad": ["unroll_steps=5", "unroll_stop_gradient=true"],
    "wgan_gp": ["d_loss=wasserstein", "g_loss=wasserstein", "gp_weight=0.1"],
}


def make_batches(name, seeds, first_step, n_steps, batch_size, d_steps):
    """Real batches ``(n_steps, seeds, d_steps, B, 2)``, batch p of seed s seeded with (s, p)."""
    out = np.empty((n_steps, len(seeds), d_steps, batch_size, 2), np.float32)
    for t in range(n_steps):
        for i, s in enumerate(seeds):
            rng = np.random.default_rng([s, first_step + t])
            out[t, i] = sample_toy(name, rng, d_steps * batch_size)[0].reshape(d_steps, batch_size, 2)
    return out


def train_seeds(config, seeds, snapshot_steps, chunk=250):
    """Train one config for every seed at once (vmap); returns final states and
    seed-0 samples at ``snapshot_steps``."""
    keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
    states = jax.vmap(lambda k: init_state(config, k))(keys)

    @jax.jit
    def run_chunk(states, batches, step_keys):
        def body(st, inputs):
            b, k = inputs
            st, metrics = jax.vmap(train_step)(st, b, k)
            return st, metrics
        return jax.lax.scan(body, states, (batches, step_keys))

    snapshots = {}
    sample_key = jax.random.PRNGKey(12345)
    for start in tqdm(range(0, config.steps, chunk), desc=config.name, leave=False):
        n = min(chunk, config.steps - start)
        batches = make_batches(config.data, seeds, start, n, config.batch_size, config.d_steps)
        step_keys = jnp.stack([jax.vmap(lambda k: jax.random.fold_in(k, start + t))(keys)
                               for t in range(n)])
        states, metrics = run_chunk(states, jnp.asarray(batches), step_keys)
        done = start + n
        if done in snapshot_steps:
            first = jax.tree.map(lambda x: x[0], states)
            snapshots[done] = np.asarray(generate(first, sample_key, 500))
    return states, snapshots


def evaluate(config, states, seeds):
    """Mode coverage of 2,500 fresh samples per seed (held-out latent key)."""
    centers, std = benchmark_mixture(config.data)
    rows = []
    for i, s in enumerate(seeds):
        st = jax.tree.map(lambda x: x[i], states)
        eval_key = jax.random.fold_in(jax.random.PRNGKey(s), 10**9)
        x = generate(st, eval_key, EVAL_SAMPLES)
        cov = mode_coverage(x, centers, std)
        rows.append({"seed": s, "modes": int(cov["modes_captured"]),
                     "high_quality": float(cov["high_quality_fraction"])})
    return rows


def summarise(rows):
    modes = np.array([r["modes"] for r in rows], float)
    hq = 100 * np.array([r["high_quality"] for r in rows])
    return {"modes_mean": modes.mean(), "modes_std": modes.std(),
            "hq_mean": hq.mean(), "hq_std": hq.std(), "n_seeds": len(rows)}


def markdown_table(name, results):
    max_modes = 8 if name == "ring8" else 25
    lines = [f"### {name}", "",
             f"| method | modes (max {max_modes}) | % high-quality samples | seeds |",
             "| --- | --- | --- | --- |"]
    for method, r in results.items():
        s = r["summary"]
        lines.append(f"| {method} (ours) | {s['modes_mean']:.1f} ± {s['modes_std']:.1f} | "
                     f"{s['hq_mean']:.1f} ± {s['hq_std']:.1f} | {s['n_seeds']} |")
    for method, modes, hq in PUBLISHED[name]:
        lines.append(f"| {method} | {modes} | {hq} | published |")
    return "\n".join(lines) + "\n"


def plot_over_training(name, results, path):
    methods = list(results)
    steps = sorted({int(k) for r in results.values() for k in r["snapshots"]})
    centers, _ = benchmark_mixture(name)
    lim = 1.5 if name == "ring8" else 5.5
    fig, axes = plt.subplots(len(methods), len(steps), figsize=(2.2 * len(steps), 2.2 * len(methods)),
                             squeeze=False)
    for i, m in enumerate(methods):
        for j, step in enumerate(steps):
            ax = axes[i, j]
            pts = results[m]["snapshots"].get(step)
            if pts is not None:
                ax.scatter(pts[:, 0], pts[:, 1], s=1, alpha=0.4, color="tab:blue")
            ax.scatter(centers[:, 0], centers[:, 1], s=8, marker="x", color="tab:red")
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if i == len(methods) - 1:
                ax.set_xlabel(f"step {step}")
            if j == 0:
                ax.set_ylabel(m, fontsize=7)
    fig.suptitle(f"{name}: generator samples over training (seed 0; x = true modes)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", nargs="+", default=["ring8", "grid25"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--set", nargs="*", default=[], help="extra key=value overrides for every run")
    parser.add_argument("--out", default="experiments/results/mode_collapse_2d")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    seeds = list(range(args.seeds))
    all_results = {}
    for name in args.data:
        results = {}
        for method in args.methods:
            config = get_config(name, METHODS[method] + args.set)
            config = dataclasses.replace(config, name=f"{name}/{method}")
            snapshot_steps = sorted({max(1, config.steps * f // 4) for f in range(1, 5)})
            t0 = time.time()
            states, snaps = train_seeds(config, seeds, snapshot_steps)
            rows = evaluate(config, states, seeds)
            results[method] = {"overrides": METHODS[method] + args.set, "seeds": rows,
                               "summary": summarise(rows), "train_seconds": time.time() - t0,
                               "snapshots": snaps}
            s = results[method]["summary"]
            print(f"{name} {method}: modes {s['modes_mean']:.2f} ± {s['modes_std']:.2f}, "
                  f"high quality {s['hq_mean']:.1f} ± {s['hq_std']:.1f} % "
                  f"({time.time() - t0:.0f} s for {len(seeds)} seeds)", flush=True)
        plot_over_training(name, results, os.path.join(args.out, f"samples_over_training_{name}.png"))
        all_results[name] = results
    with open(os.path.join(args.out, "table.md"), "w") as f:
        for name, results in all_results.items():
            f.write(markdown_table(name, results) + "\n")
    for results in all_results.values():
        for r in results.values():
            r.pop("snapshots")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(all_results, f, indent=2)
    print(open(os.path.join(args.out, "table.md")).read())


if __name__ == "__main__":
    main()
