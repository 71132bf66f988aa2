"""Mode collapse on images: stacked digits (1,000 modes), the offline analogue of Stacked MNIST.

Protocol (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018, Tables 2
and 3; details in :mod:`gan_jax.metrics.stacked_modes`): each generator draws
26,000 samples, each channel is classified by the digits classifier, and we
report the modes captured (of 1,000) and KL(generated mode histogram ||
uniform). The methods are the DCGAN of ``stacked_digits_dcgan`` with the
published small discriminator (D's channels 1/4 or 1/2 of G's at every
resolution, Metz et al. 2017's setting), the unrolled GAN (k = 5, 10), PacGAN2
and the preset ``stacked_digits_best``. Every method trains its seeds together
through the library's sweep trainer (:func:`gan_jax.train.driver.train_members`).

Writes to ``--out`` (default ``experiments/results/stacked_digits``):
``results.json`` (with provenance and seed 0's first 64 samples), ``table.md``
(ours beside the published Stacked MNIST rows and the real-data floor) and
``samples_and_modes.png`` (seed 0 of each method: samples and the sorted mode
counts). Rows already in ``--out`` of methods not run again are kept.

    python experiments/stacked_digits.py --seeds 0 1 2 3 4
    python experiments/stacked_digits.py --methods unrolled_k10 --seeds 0 1 --set steps=1000
    python experiments/stacked_digits.py --methods best_rpgan --seeds 0 1
"""

import argparse
import json
import os
import sys
import time

import jax
import matplotlib
import numpy as np
from tqdm import tqdm

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments._common import (  # noqa: E402
    check_seeds,
    experiment_config,
    make_out_dir,
    read_saved_json,
    run_main,
    score_generators,
    summarise_generators,
    summary_rows,
    train_with_progress,
)
from gan_jax.config.schema import config_to_dict  # noqa: E402
from gan_jax.data.stacked_digits import real_stacked_digits  # noqa: E402
from gan_jax.features.digits_classifier import cached_digit_classify_fn  # noqa: E402
from gan_jax.io.figures import image_grid  # noqa: E402
from gan_jax.metrics import stacked_modes  # noqa: E402
from gan_jax.runs.provenance import collect_provenance  # noqa: E402
from gan_jax.runs.sampling import generate_batches  # noqa: E402
from gan_jax.train.sweep import member  # noqa: E402

# Published Stacked MNIST rows: (method, modes, KL). PacGAN Table 2 (its first rows quoted
# from VEEGAN Table 2) and Table 3 (D 1/4 and 1/2 the size of G; the DCGAN row at 1/4
# quoted from Metz et al. 2017).
PUBLISHED = [
    ("DCGAN (VEEGAN / PacGAN Table 2)", "99.0", "3.40"),
    ("Unrolled GAN (VEEGAN / PacGAN Table 2)", "48.7", "4.32"),
    ("VEEGAN (VEEGAN / PacGAN Table 2)", "150.0", "2.95"),
    ("PacDCGAN2 (PacGAN Table 2)", "1000.0 ± 0.0", "0.06 ± 0.003"),
    ("DCGAN, D 1/4 of G (Metz et al., PacGAN Table 3)", "30.6 ± 20.7", "5.99 ± 0.42"),
    ("DCGAN, D 1/4 of G (PacGAN Table 3)", "78.5 ± 17.6", "5.21 ± 0.19"),
    ("PacDCGAN2, D 1/4 of G (PacGAN Table 3)", "484.5 ± 33.0", "2.61 ± 0.22"),
    ("DCGAN, D 1/2 of G (PacGAN Table 3)", "487.7 ± 34.6", "2.24 ± 0.15"),
]

# Method -> overrides on ``stacked_digits_dcgan`` (``best``: the preset ``stacked_digits_best``).
# d_width=16 makes every D layer 1/4 of the G layer at its resolution, d_width=32 1/2.
METHODS = {
    "dcgan": [],
    "dcgan_d_half": ["d_width=32"],
    "dcgan_d_quarter": ["d_width=16"],
    "unrolled_k5_d_quarter": ["d_width=16", "unroll_steps=5"],
    "unrolled_k10_d_quarter": ["d_width=16", "unroll_steps=10"],
    "pacgan2_d_quarter": ["d_width=16", "pack=2"],
    "best": [],
    # The preset stacked_digits_best with only the objective changed: RpGAN + R1 + R2
    # (Huang et al. 2024), one gamma for both penalties as in R3GAN, gamma = 1 (not tuned).
    "best_rpgan": ["d_loss=rpgan", "g_loss=rpgan", "r1_weight=1.0", "r2_weight=1.0"],
}
BEST_METHODS = ("best", "best_rpgan")


def method_config(method, extra=()):
    """The Config of ``method``; a UserError now, before any training, if its keys do not
    combine (the objective's own checks, :func:`gan_jax.config.build.build_objective`)."""
    preset = "stacked_digits_best" if method in BEST_METHODS else "stacked_digits_dcgan"
    return experiment_config(preset, METHODS[method] + list(extra), f"stacked_digits-{method}")


def evaluate(config, states, seeds, classify, num_samples):
    """Modes and KL of ``num_samples`` samples per seed (a latent key training never sees), drawn
    as ``gan-jax sample`` draws them: from the generator's average where training kept one (and
    from G as trained under ``raw_`` keys, :func:`experiments._common.score_generators`)."""
    rows, grids = [], {}
    for i, seed in enumerate(seeds):
        key = jax.random.fold_in(jax.random.PRNGKey(seed), 10**9)
        drawn = {}

        def score(state, averaged):
            samples = np.concatenate(list(generate_batches(state, key, num_samples, None, averaged=averaged)))
            drawn[averaged] = samples[:64]
            counts = stacked_modes.stacked_mode_histogram(samples, classify)
            scores = stacked_modes.scores_of_histogram(counts)
            return {"modes": int(scores["modes"]), "kl": float(scores["kl"]),
                    "counts": np.asarray(counts).astype(int).tolist()}

        rows.append({"seed": seed, **score_generators(member(states, i), score)})
        grids[seed] = drawn.get(True, drawn[False])   # the generator the row reports first
    return rows, grids


def summarise(rows, prefix=""):
    modes = np.array([r[prefix + "modes"] for r in rows], float)
    kl = np.array([r[prefix + "kl"] for r in rows], float)
    return {"modes_mean": modes.mean(), "modes_std": modes.std(), "kl_mean": kl.mean(), "kl_std": kl.std(),
            "n_seeds": len(rows)}


def markdown_table(results, real):
    lines = ["| method | steps | modes (of 1000) | KL to uniform | seeds | train s |",
             "| --- | --- | --- | --- | --- | --- |"]
    for method, r in results.items():
        for suffix, s in summary_rows(r):
            lines.append(f"| {method} (ours{suffix}) | {r['config']['steps']} | {s['modes_mean']:.1f} ± "
                         f"{s['modes_std']:.1f} | {s['kl_mean']:.3f} ± {s['kl_std']:.3f} | {s['n_seeds']} | "
                         f"{r['train_seconds']:.0f} |")
    if real:
        lines.append(f"| real stacked digits, same classifier and sample size | | {real['modes']} | "
                     f"{real['kl']:.4f} (floor (K-1)/2N = {real['kl_floor']:.4f}) | | |")
    for method, modes, kl in PUBLISHED:
        lines.append(f"| {method} | | {modes} | {kl} | published | |")
    lines += ["", "Ours: scikit-learn's 8x8 digits stacked in 3 channels, our digits classifier; the published "
              "rows are Stacked MNIST (28x28) with the papers' classifier: compare the pattern, not the values. "
              "± is the standard deviation over seeds (the papers' Table 3 gives standard deviations too)."]
    counts = {r["summary"]["n_seeds"] for r in results.values()}
    if len(counts) > 1:
        lines.append(f"Rows on fewer than {max(counts)} seeds were cut to fit the CPU time of the run "
                     "(the seeds column says how many).")
    return "\n".join(lines) + "\n"


def plot(results, path):
    """Seed 0 of every method that has its samples stored: 64 samples and the sorted mode counts."""
    grids = {m: r["grid_seed0"] for m, r in results.items() if "grid_seed0" in r}
    methods = list(grids)
    if not methods:
        return
    fig, axes = plt.subplots(2, len(methods), figsize=(3.2 * len(methods), 6.4), squeeze=False)
    for j, m in enumerate(methods):
        axes[0, j].imshow(image_grid(np.asarray(grids[m]), ncols=8))
        axes[0, j].axis("off")
        axes[0, j].set_title(m, fontsize=8)
        counts = np.asarray(results[m]["seeds"][0]["counts"])
        axes[1, j].plot(np.sort(counts)[::-1])
        axes[1, j].axhline(counts.sum() / len(counts), color="grey", linestyle=":")
        axes[1, j].set_yscale("log")
        axes[1, j].set_title(f"{np.count_nonzero(counts)} modes, KL {results[m]['seeds'][0]['kl']:.2f}", fontsize=8)
        axes[1, j].set_xlabel("mode, by count", fontsize=7)
    axes[1, 0].set_ylabel("samples (seed 0; dotted: uniform)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--samples", type=int, default=stacked_modes.STACKED_EVAL_SAMPLES,
                        help="samples per generator (default 26,000, the published protocol)")
    parser.add_argument("--set", nargs="*", default=[], help="extra key=value overrides for every method")
    parser.add_argument("--out", default="experiments/results/stacked_digits")
    args = parser.parse_args(argv)
    check_seeds(args.seeds)
    configs = {m: method_config(m, args.set) for m in args.methods}   # every override checked first
    make_out_dir(args.out)
    path = os.path.join(args.out, "results.json")
    saved = read_saved_json(path, {})
    results, real = saved.get("methods", {}), saved.get("real")
    classify, _ = cached_digit_classify_fn()
    if real is None or real.get("samples") != args.samples:
        images, _ = real_stacked_digits(args.samples, seed=12345)
        scores = stacked_modes.stacked_mode_scores(images, classify)
        real = {"modes": int(scores["modes"]), "kl": float(scores["kl"]), "samples": args.samples,
                "kl_floor": stacked_modes.expected_kl_floor(args.samples)}
    for method in tqdm(args.methods, desc="methods"):
        config = configs[method]
        start = time.time()
        states, diverged = train_with_progress(config, args.seeds)
        seconds = time.time() - start
        rows, seed_grids = evaluate(config, states, args.seeds, classify, args.samples)
        results.pop(method, None)
        results[method] = {"config": config_to_dict(config), "seeds": rows, **summarise_generators(rows, summarise),
                           "diverged": {str(k): v for k, v in diverged.items()}, "train_seconds": seconds,
                           "grid_seed0": np.asarray(seed_grids[args.seeds[0]]).round(3).tolist(),
                           "provenance": collect_provenance()}
        s = results[method]["summary"]
        print(f"{method}: modes {s['modes_mean']:.1f} ± {s['modes_std']:.1f}, KL {s['kl_mean']:.3f} ± "
              f"{s['kl_std']:.3f} ({seconds:.0f} s for {len(args.seeds)} seeds)", flush=True)
        with open(path, "w") as f:   # after every method, so a long run keeps what it finished
            json.dump({"methods": results, "real": real}, f, indent=1)
        with open(os.path.join(args.out, "table.md"), "w") as f:
            f.write(markdown_table(results, real))
    plot(results, os.path.join(args.out, "samples_and_modes.png"))
    print(open(os.path.join(args.out, "table.md")).read())


if __name__ == "__main__":
    run_main(main)
