"""How well a conditional digits GAN honours its labels.

For each requested class k: the accuracy of the digits classifier (trained
on real train digits) on generated digits of class k, beside its accuracy on
real test digits; and the per-class Frechet distance in the classifier's
feature space, generated-vs-real-train beside real-test-vs-real-train.

    python experiments/conditional_digits.py --run RUN_DIR [--per-class 200]

RUN_DIR is a `gan-jax train --config digits_cgan` (or digits_acgan) run.
"""

import os
import sys

import jax.numpy as jnp
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments._common import parse_args, plt, run_main, save_figure, write_results  # noqa: E402


def _add(parser):
    parser.add_argument("--run", required=True, help="run directory of a conditional digits GAN")
    parser.add_argument("--per-class", type=int, default=200, help="generated samples per class")


def main(argv=None):
    from gan_jax.data.sources import load_digits
    from gan_jax.features.digits_classifier import (
        classifier_features,
        classifier_probs,
        load_or_train_classifier,
    )
    from gan_jax.metrics.per_class import per_class_accuracy, per_class_frechet
    from gan_jax.runs.sampling import sample_from_run

    args = parse_args("conditional_digits", __doc__.splitlines()[0], argv, _add)
    params, test_accuracy = load_or_train_classifier()
    k = 10
    labels_text = ",".join(str(c) for c in np.repeat(np.arange(k), args.per_class))
    fake, fake_y = sample_from_run(args.run, k * args.per_class, args.seed, labels_text)
    train_x, train_y = load_digits("train")
    test_x, test_y = load_digits("test")

    def feats(x):
        return np.asarray(classifier_features(params, jnp.asarray(x)))

    fake_acc = per_class_accuracy(classifier_probs(params, jnp.asarray(fake)), jnp.asarray(fake_y), k)
    real_acc = per_class_accuracy(classifier_probs(params, jnp.asarray(test_x)), jnp.asarray(test_y), k)
    fd_fake = per_class_frechet(feats(fake), fake_y, feats(train_x), train_y, k)
    fd_real = per_class_frechet(feats(test_x), test_y, feats(train_x), train_y, k)
    results = {
        "run": args.run, "samples_per_class": args.per_class,
        "classifier_test_accuracy": test_accuracy,
        "generated_accuracy_per_class": np.asarray(fake_acc).tolist(),
        "generated_accuracy_mean": float(np.nanmean(fake_acc)),
        "real_test_accuracy_per_class": np.asarray(real_acc).tolist(),
        "frechet_generated_vs_train_per_class": fd_fake.tolist(),
        "frechet_test_vs_train_per_class": fd_real.tolist(),
        "frechet_generated_mean": float(np.nanmean(fd_fake)),
        "frechet_real_baseline_mean": float(np.nanmean(fd_real)),
    }
    print(f"wrote {write_results(args.out, results)}")
    print(f"accuracy on generated digits per class: {np.round(np.asarray(fake_acc, np.float64), 3).tolist()} "
          f"(mean {results['generated_accuracy_mean']:.3f}; real test {test_accuracy:.3f})")
    print(f"per-class Frechet (mean): generated {results['frechet_generated_mean']:.2f}, "
          f"real-vs-real {results['frechet_real_baseline_mean']:.2f}")

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    classes = np.arange(k)
    axes[0].bar(classes - 0.2, np.asarray(fake_acc), 0.4, label="generated")
    axes[0].bar(classes + 0.2, np.asarray(real_acc), 0.4, label="real test")
    axes[0].set(xlabel="requested class", ylabel="classifier accuracy", ylim=(0, 1.05),
                title="Digits classifier accuracy per class")
    axes[1].bar(classes - 0.2, fd_fake, 0.4, label="generated vs real train")
    axes[1].bar(classes + 0.2, fd_real, 0.4, label="real test vs real train")
    axes[1].set(xlabel="class", ylabel="Frechet distance (classifier features)",
                title="Per-class Frechet distance")
    for ax in axes:
        ax.set_xticks(classes)
        ax.legend(fontsize=8)
    print(f"wrote {save_figure(fig, args.out, 'conditional_digits.png')}")
    return results


if __name__ == "__main__":
    run_main(main)
