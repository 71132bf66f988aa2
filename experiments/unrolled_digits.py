"""Mode collapse on images: an ordinary DCGAN beside an unrolled one, same step.

The seeds' comparison (Metz et al. 2016, MNIST, an ordinary GAN against an
unrolled GAN with 20 steps) on the offline digits: both runs share the
``digits_dcgan`` model, data, seed and number of generator steps and differ
only in ``unroll_steps``. Each trained generator draws ``--samples`` digits;
the digits classifier (:mod:`gan_jax.features.digits_classifier`, trained on real
train digits) labels them, and the class histogram, its KL to the uniform
law and the number of classes holding at least 2 % of the samples show
which generator covers the ten digits.

    python experiments/unrolled_digits.py --steps 400 --unroll 20
    python experiments/unrolled_digits.py --config mnist_dcgan --unrolled-config mnist_unrolled

Writes ``--out`` (default ``experiments/results/unrolled_digits``):
``samples_side_by_side.png``, ``class_histogram.png``, ``results.json`` and
the two training runs under ``runs/``.
"""

import os
import sys
import time

import jax
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments._common import parse_args, plt, run_main, save_figure, write_results  # noqa: E402

# A class "is generated" when it holds at least this share of the samples.
COVERED_SHARE = 0.02


def _add(parser):
    parser.add_argument("--config", default="digits_dcgan", help="the ordinary GAN's config")
    parser.add_argument("--unrolled-config", default="digits_unrolled", help="the unrolled GAN's config")
    parser.add_argument("--steps", type=int, default=400, help="generator steps of both runs")
    parser.add_argument("--unroll", type=int, default=20, help="unroll_steps k of the unrolled run")
    parser.add_argument("--samples", type=int, default=2000, help="generated digits per run")


def _image_for_classifier(images, size=8):
    """Generated images ``(N, H, W, 1)`` in [-1, 1] resized to the classifier's 8x8."""
    if images.shape[1] == size:
        return images
    return jax.image.resize(images, (images.shape[0], size, size, 1), "linear")


def main(argv=None):
    from gan_jax.config.schema import get_config
    from gan_jax.core.steps import generate
    from gan_jax.features.digits_classifier import (
        classifier_probs,
        load_or_train_classifier,
    )
    from gan_jax.io.figures import image_grid
    from gan_jax.metrics.class_stats import class_statistics
    from gan_jax.train.loop import train

    args = parse_args("unrolled_digits", __doc__.splitlines()[0], argv, _add)
    params, test_accuracy = load_or_train_classifier()
    runs = {"ordinary": get_config(args.config, [f"steps={args.steps}", "unroll_steps=0"]),
            f"unrolled (k={args.unroll})": get_config(args.unrolled_config,
                                                      [f"steps={args.steps}", f"unroll_steps={args.unroll}"])}
    results = {"steps": args.steps, "samples": args.samples, "classifier_test_accuracy": test_accuracy,
               "covered_share": COVERED_SHARE, "runs": {}}
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.4))
    hist_fig, hist_ax = plt.subplots(figsize=(7, 3.2))
    width = 0.4
    for i, (label, config) in enumerate(runs.items()):
        run_dir = os.path.join(args.out, "runs", label.split(" ")[0])
        start = time.time()
        state = train(config, run_dir, echo=lambda *a: None)
        seconds = time.time() - start
        images = generate(state, jax.random.PRNGKey(args.seed + 10**6), args.samples)
        stats = class_statistics(classifier_probs(params, _image_for_classifier(images)))
        histogram = np.asarray(stats["histogram"])
        results["runs"][label] = {
            "config": config.name, "unroll_steps": config.unroll_steps, "train_seconds": seconds,
            "class_histogram": histogram.tolist(),
            "classes_covered": int(np.sum(histogram >= COVERED_SHARE)),
            "largest_class_share": float(histogram.max()),
            "kl_to_uniform": float(stats["kl_to_uniform"]),
            "inception_score_digits": float(stats["inception_score"])}
        r = results["runs"][label]
        print(f"{label}: {r['classes_covered']} classes with >= {COVERED_SHARE:.0%} of samples, "
              f"largest class {r['largest_class_share']:.1%}, KL to uniform {r['kl_to_uniform']:.3f} "
              f"({seconds:.0f} s)", flush=True)
        grid = image_grid(np.asarray(images[:64]))
        axes[i].imshow(grid.squeeze(), cmap="gray", vmin=0, vmax=255)
        axes[i].set_title(f"{label}, step {args.steps}\n{r['classes_covered']} classes >= "
                          f"{COVERED_SHARE:.0%}, KL to uniform {r['kl_to_uniform']:.2f}", fontsize=9)
        axes[i].axis("off")
        hist_ax.bar(np.arange(10) + (i - 0.5) * width, histogram, width, label=label)
    hist_ax.axhline(0.1, color="gray", linestyle=":", label="uniform (real digits)")
    hist_ax.set_xticks(range(10))
    hist_ax.set_xlabel("class given by the digits classifier")
    hist_ax.set_ylabel("share of generated samples")
    hist_ax.legend(fontsize=8)
    figure = save_figure(fig, args.out, "samples_side_by_side.png")
    histogram_figure = save_figure(hist_fig, args.out, "class_histogram.png")
    path = write_results(args.out, results)
    print(f"wrote {figure}, {histogram_figure} and {path}")
    return results


if __name__ == "__main__":
    run_main(main)
