"""A DCGAN trained on mnist5k's real 28x28 digits, read by the MNIST classifier.

Draws --samples samples (10,000 by default) of a trained run with
``gan_jax.runs.sampling`` and classifies them with the MNIST classifier
(:mod:`gan_jax.features.mnist_classifier`, trained on the 4,000 training
digits), against mnist5k's 1,000 held-out digits, which neither the GAN nor
the classifier was trained on:

- the fraction of samples in each class (goal: every class 7-13 %);
- the classifier score, the Inception-score analogue exp E_x KL(p(y|x) || p(y)),
  of the samples and of the held-out digits (goal: within 5 %);
- FID and KID in the classifier's features beside the real-vs-real floor: the
  held-out digits in two halves of 500, A the reference; ``generated_500``
  scores 500 samples against A as ``floor_500`` scores B against A (equal
  sizes, so FID's bias is the same), ``generated_all`` all samples against A;
- a figure: 64 samples beside 64 held-out digits, and the class fractions.

    python experiments/mnist5k_dcgan.py --run runs/mnist5k_dcgan [--samples 10000] [--best]
        [--generator auto|average|raw]

The samples are drawn as ``gan-jax sample`` draws them: by default from the generator's
average where the run keeps one, else from the generator as trained (``--generator``).

RUN_DIR is a ``gan-jax train --config mnist5k_dcgan`` run (any 28x28x1 run works).
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from experiments._common import parse_args, plt, run_main, save_figure, write_results  # noqa: E402
from gan_jax.cli.options import generator_option  # noqa: E402

SHAPE = (28, 28, 1)
CLASS_RANGE = (0.07, 0.13)   # the goal for every class's fraction of the samples
SCORE_TOLERANCE = 0.05       # the goal for |score(samples) / score(held-out) - 1|


def _add(parser):
    parser.add_argument("--run", required=True, help="run directory of a 28x28x1 GAN (mnist5k_dcgan)")
    parser.add_argument("--samples", type=int, default=10_000, help="generated samples (at least 500)")
    parser.add_argument("--best", action="store_true", help="the best checkpoint kept by evaluation")
    generator_option(parser)


def _figure(fake, real, fractions, out):
    from gan_jax.io.figures import image_grid
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.4), gridspec_kw={"width_ratios": [1, 1, 1.2]})
    for ax, images, title in ((axes[0], fake, "generated"), (axes[1], real, "real held-out digits")):
        ax.imshow(np.squeeze(image_grid(images[:64], ncols=8)), cmap="gray", vmin=0, vmax=255)
        ax.set_title(title)
        ax.axis("off")
    classes = np.arange(len(fractions))
    axes[2].bar(classes, fractions)
    axes[2].axhspan(*CLASS_RANGE, color="grey", alpha=0.2, label="goal: 7-13 %")
    axes[2].set(xticks=classes, xlabel="class given by the MNIST classifier", ylabel="fraction of samples",
                title="classes of the generated digits")
    axes[2].legend(fontsize=8)
    return save_figure(fig, out, "mnist5k_dcgan.png")


def main(argv=None):
    import jax

    from gan_jax.data.mnist5k import load_mnist5k
    from gan_jax.errors import UserError
    from gan_jax.evaluation import features as evaluation
    from gan_jax.evaluation.evaluate_run import fid_of_features, kid_of_features
    from gan_jax.features.mnist_classifier import load_or_train_classifier
    from gan_jax.metrics.class_stats import class_statistics
    from gan_jax.runs.sampling import sample_from_run

    args = parse_args("mnist5k_dcgan", __doc__.splitlines()[0], argv, _add)
    if args.samples < 500:
        raise UserError(f"--samples {args.samples}: give at least 500 (FID is scored on 500 samples)")
    _, held_out_accuracy = load_or_train_classifier()
    extractor = evaluation.get_extractor("classifier", SHAPE)
    fake, _ = sample_from_run(args.run, args.samples, args.seed, best=args.best, generator=args.generator)
    if fake.shape[1:] != SHAPE:
        raise UserError(f"{args.run} makes {fake.shape[1:]} samples; the MNIST classifier reads {SHAPE}")
    real, _ = load_mnist5k("test")
    half = len(real) // 2
    order = np.random.default_rng(args.seed).permutation(len(real))
    fake_features, fake_probs = extractor.features(fake), extractor.probs(fake)
    real_features, real_probs = extractor.features(real), extractor.probs(real)
    a, b = real_features[order[:half]], real_features[order[half:2 * half]]
    key = jax.random.PRNGKey(args.seed)

    fake_stats = {k: np.asarray(v) for k, v in class_statistics(fake_probs).items()}
    real_stats = {k: np.asarray(v) for k, v in class_statistics(real_probs).items()}
    fractions = fake_stats["histogram"]
    score, real_score = float(fake_stats["inception_score"]), float(real_stats["inception_score"])
    results = {
        "run": args.run, "best": args.best, "generator": args.generator, "samples": int(len(fake)),
        "held_out_digits": int(len(real)),
        "classifier": extractor.name, "classifier_held_out_accuracy": held_out_accuracy,
        "class_fractions": fractions.tolist(),
        "class_fractions_real": real_stats["histogram"].tolist(),
        "class_kl_to_uniform": float(fake_stats["kl_to_uniform"]),
        "goal_every_class_7_to_13_percent": bool(np.all((fractions >= CLASS_RANGE[0]) &
                                                        (fractions <= CLASS_RANGE[1]))),
        "classifier_score": score, "classifier_score_real": real_score,
        "classifier_score_relative_difference": score / real_score - 1.0,
        "goal_score_within_5_percent": bool(abs(score / real_score - 1.0) <= SCORE_TOLERANCE),
        "fid": {"generated_500": fid_of_features(a, fake_features[:half], extractor.name),
                "floor_500": fid_of_features(a, b, extractor.name),
                "generated_all": fid_of_features(a, fake_features, extractor.name)},
        "kid": {"generated_500": kid_of_features(key, a, fake_features[:half])[0],
                "floor_500": kid_of_features(key, a, b)[0],
                "generated_all": kid_of_features(key, a, fake_features)[0]},
    }
    print(f"wrote {write_results(args.out, results)}")
    print(f"class fractions: {np.round(fractions, 3).tolist()} (goal 0.07-0.13: "
          f"{results['goal_every_class_7_to_13_percent']})")
    print(f"classifier score: generated {score:.3f}, real held-out {real_score:.3f} "
          f"({100 * results['classifier_score_relative_difference']:+.1f} %; goal within 5 %)")
    print(f"FID (500 vs 500 held-out): generated {results['fid']['generated_500']:.3f}, "
          f"real-vs-real floor {results['fid']['floor_500']:.3f}; KID {results['kid']['generated_500']:.4g}, "
          f"floor {results['kid']['floor_500']:.4g}")
    print(f"wrote {_figure(fake, real, fractions, args.out)}")
    return results


if __name__ == "__main__":
    run_main(main)
