"""Every metric that applies to a run, as ``gan-jax eval`` reports it (shell: restores, reads data, draws a figure).

Images: FID, KID (unbiased, mean and std over subsets), precision and recall
(k-NN manifolds, k = 3), density and coverage (k-NN balls of the real
samples, k = 5), each beside the same scores of one half of the real sample
against the other; for the digits and MNIST classifiers (8x8x1 and 28x28x1
images) also the class histogram of generated and real digits. Points (the
toys): the Fréchet distance of the raw points, precision, recall, density and
coverage, and mode coverage for ``ring8``/``grid25``. A k-NN score of a set of
at most k samples is None.
Stacked digits: modes captured and KL to uniform over the 1,000 modes
(:mod:`gan_jax.metrics.stacked_modes`, 26,000 samples by default as
published), beside the same scores of as many real stacked digits.
Real samples come from :func:`gan_jax.data.sources.evaluation_batches` (the training
input code, streamed), so every source a run trains on can be evaluated.
"""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.config.build import data_shape
from gan_jax.data import sources as data_lib
from gan_jax.data.stacked_digits import real_stacked_digits
from gan_jax.evaluation import features as evaluation
from gan_jax.features.digits_classifier import cached_digit_classify_fn
from gan_jax.io import figures as viz
from gan_jax.io.figures import image_grid, new_figure, save_figure
from gan_jax.metrics import stacked_modes
from gan_jax.metrics.class_stats import class_statistics
from gan_jax.metrics.kid import kid_in_parts
from gan_jax.metrics.mode_coverage import benchmark_mixture, mode_coverage
from gan_jax.metrics.nearest_neighbours import nearest_neighbours
from gan_jax.metrics.density_coverage import DENSITY_COVERAGE_K, density_coverage
from gan_jax.metrics.precision_recall import manifold_coverage
from gan_jax.metrics.stacked_modes import STACKED_EVAL_SAMPLES
from gan_jax.metrics.stats import stats_from_features
from gan_jax.runs.checkpoint import read_run_config
from gan_jax.runs.sampling import sample_batches

__all__ = ["feature_set_of", "fid_of_features", "kid_of_features", "knn_scores", "image_scores", "point_scores",
           "stacked_digits_result", "evaluate_run"]

PRECISION_RECALL_K = 3   # Kynkäänniemi et al. 2019


def feature_set_of(features: np.ndarray, extractor: str) -> evaluation.FeatureSet:
    """A :class:`~gan_jax.evaluation.features.FeatureSet` of feature rows ``(N, d)`` held in memory."""
    return evaluation.FeatureSet(stats_from_features(features, extractor), np.asarray(features), None)


def fid_of_features(real: np.ndarray, fake: np.ndarray, extractor: str) -> float:
    """Fréchet distance of the Gaussian fits of two feature arrays ``(N, d)``, ``(M, d)``, float64."""
    return evaluation.fid_between(feature_set_of(real, extractor), feature_set_of(fake, extractor))


def kid_of_features(key: jax.Array, real: np.ndarray, fake: np.ndarray, num_subsets: int = 50,
                    subset_size: int = 500):
    """KID ``(mean, std)`` over ``num_subsets`` subsets of ``min(subset_size, N, M)`` rows each
    (:func:`~gan_jax.metrics.kid.kid_in_parts`: a new pair of counts compiles little)."""
    mean, std = kid_in_parts(key, real, fake, num_subsets, subset_size)
    return float(mean), float(std)


def knn_scores(real: np.ndarray, fake: np.ndarray) -> dict:
    """Precision and recall (k = 3), density and coverage (k = 5) of rows ``fake`` ``(M, d)``
    against ``real`` ``(N, d)``, as floats. A score whose k-NN radii come from a set of at most
    k rows is None: recall's from ``fake``, the other three from ``real``."""
    real, fake = jnp.asarray(real), jnp.asarray(fake)
    k, n, m = PRECISION_RECALL_K, len(real), len(fake)
    out = {"precision": float(manifold_coverage(real, fake, k)) if n > k else None,
           "recall": float(manifold_coverage(fake, real, k)) if m > k else None,
           "density": None, "coverage": None}
    if n > DENSITY_COVERAGE_K:
        density, coverage = density_coverage(real, fake, DENSITY_COVERAGE_K)
        out.update(density=float(density), coverage=float(coverage))
    return out


def image_scores(key: jax.Array, real: np.ndarray, fake: np.ndarray, extractor: str) -> dict:
    """FID, KID (mean, std) and the k-NN scores (:func:`knn_scores`) of feature arrays ``fake``
    against ``real``."""
    kid, kid_std = kid_of_features(key, real, fake)
    return {"fid": fid_of_features(real, fake, extractor), "kid": kid, "kid_std": kid_std,
            **knn_scores(real, fake)}


def point_scores(real: np.ndarray, fake: np.ndarray) -> dict:
    """The Fréchet distance of the raw points' Gaussian fits and the k-NN scores (:func:`knn_scores`)."""
    return {"frechet_distance": fid_of_features(real, fake, evaluation.POINTS_EXTRACTOR),
            **knn_scores(real, fake)}


def _concat(batches) -> np.ndarray:
    return np.concatenate(list(batches))


def _toy_result(config, real, fake, figure: str) -> dict:
    out = {"scores": point_scores(real, fake), "real_vs_real": point_scores(*evaluation.split_halves(real))}
    if config.data in ("ring8", "grid25"):
        centers, std = benchmark_mixture(config.data)
        out["mode_coverage"] = {k: np.asarray(v).tolist() for k, v in
                                mode_coverage(jnp.asarray(fake), centers, std).items()}
    viz.save_points(fake, figure, f"{config.data}: generated samples (real in grey)", reference=real)
    return out


def _image_result(key, real, fake, extractor, progress: bool, figure: str) -> dict:
    def features(images, desc):
        return evaluation.feature_sets(extractor, np.array_split(images, max(1, len(images) // 250)),
                                       desc, progress)[0]

    real_set, fake_set = features(real, "real"), features(fake, "fake")
    half_a, half_b = evaluation.split_halves(real_set.features)
    out = {"features": extractor.name,
           "scores": image_scores(key, real_set.features, fake_set.features, extractor.name),
           "real_vs_real": image_scores(key, half_a, half_b, extractor.name)}
    if extractor.probs is not None:
        for name, probs in (("class_stats", fake_set.probs), ("class_stats_real", real_set.probs)):
            out[name] = {k: np.asarray(v).tolist() for k, v in class_statistics(jnp.asarray(probs)).items()}
    nearest_neighbours_figure(real, fake, real_set.features, fake_set.features, figure)
    return out


def stacked_digits_result(fake: np.ndarray, real: np.ndarray, figure: str) -> dict:
    """Modes captured and KL to uniform of generated and real stacked digits ``(N, 8, 8, 3)``
    under the cached digits classifier, the KL floor of N exact samples; draws ``figure``."""
    classify, test_accuracy = cached_digit_classify_fn()
    fake_counts = stacked_modes.stacked_mode_histogram(fake, classify)
    real_counts = stacked_modes.stacked_mode_histogram(real, classify)
    _stacked_figure(fake, fake_counts, real_counts, figure)
    return {"scores": stacked_modes.scores_of_histogram(fake_counts),
            "real": stacked_modes.scores_of_histogram(real_counts),
            "kl_floor": stacked_modes.expected_kl_floor(len(fake)),
            "classifier_test_accuracy": test_accuracy}


def _stacked_figure(fake, fake_counts, real_counts, path):
    """64 generated stacked digits beside the sorted mode counts of generated and real samples."""
    fig = new_figure((12, 5))
    left, right = fig.subplots(1, 2)
    left.imshow(image_grid(fake[:64], ncols=8))
    left.axis("off")
    left.set_title("generated stacked digits")
    for counts, label in ((real_counts, "real"), (fake_counts, "generated")):
        right.plot(np.sort(counts)[::-1], label=f"{label}: {np.count_nonzero(counts)} modes")
    right.axhline(real_counts.sum() / len(real_counts), color="grey", linestyle=":", label="uniform")
    right.set_yscale("log")   # empty modes (count 0) fall off the log axis
    right.set_xlabel("mode, by count")
    right.set_ylabel("samples")
    right.legend()
    return save_figure(fig, path, dpi=80)


def evaluate_run(run_dir: str, figure: str, n: Optional[int] = None, seed: int = 0, features: str = "auto",
                 inception_weights: Optional[str] = None, progress: bool = True, best: bool = False,
                 generator: str = "auto") -> dict:
    """Every applicable metric of ``n`` samples of a run (its newest checkpoint, or with
    ``best`` the best one kept by evaluation) against ``max(2n, 2000)`` real samples (fewer
    if the data set is smaller); draws ``figure`` and returns the results.

    ``n`` defaults to 1000, and for stacked digits to the published 26,000, scored against
    as many real stacked digits drawn with ``seed``."""
    config = read_run_config(run_dir)
    if config.data == "stacked_digits":
        n = STACKED_EVAL_SAMPLES if n is None else n
        fake = _concat(sample_batches(run_dir, n, seed, best=best, generator=generator))
        real, _ = real_stacked_digits(n, seed)
        result = {"run_dir": run_dir, "data": config.data, "n_generated": int(len(fake)), "n_real": int(len(real))}
        result.update(stacked_digits_result(fake, real, figure))
        result["figure"] = figure
        return result
    n = 1000 if n is None else n
    shape = data_shape(config)
    extractor = None
    if len(shape) == 3:  # fail on a missing extractor before sampling anything
        extractor = evaluation.get_extractor(features, shape, inception_weights)
    fake = _concat(sample_batches(run_dir, n, seed, best=best, generator=generator))
    real = _concat(data_lib.evaluation_batches(config, max(2 * n, 2000), seed=seed))
    result = {"run_dir": run_dir, "data": config.data, "n_generated": int(len(fake)), "n_real": int(len(real))}
    if extractor is None:
        result.update(_toy_result(config, real, fake, figure))
    else:
        result.update(_image_result(jax.random.PRNGKey(seed), real, fake, extractor, progress, figure))
    result["figure"] = figure
    return result


def nearest_neighbours_figure(real, fake, f_real, f_fake, path, k=4, rows=6):
    """Each generated sample beside its k nearest training images in pixel and feature space,
    over a histogram of the pixel distance to the nearest real image (beside real-to-real)."""
    rows = min(rows, len(fake))
    k = min(k, len(real))
    _, i_pix = nearest_neighbours(jnp.asarray(fake[:rows]), jnp.asarray(real), k)
    _, i_feat = nearest_neighbours(jnp.asarray(f_fake[:rows]), jnp.asarray(f_real), k)
    d_all, _ = nearest_neighbours(jnp.asarray(fake), jnp.asarray(real), 1)
    d_real = None
    if len(real) > 2 * len(fake):
        d_real, _ = nearest_neighbours(jnp.asarray(real[:len(fake)]), jnp.asarray(real[len(fake):]), 1)
    fig = new_figure((2 * k + 6, rows * 1.1 + 3))
    grid = fig.add_gridspec(rows + 2, 2 * k + 1)
    show = _show_image
    for r in range(rows):
        show(fig.add_subplot(grid[r, 0]), fake[r])
        for j in range(k):
            show(fig.add_subplot(grid[r, 1 + j]), real[int(i_pix[r, j])])
            show(fig.add_subplot(grid[r, 1 + k + j]), real[int(i_feat[r, j])])
    ax = fig.add_subplot(grid[rows:, :])
    ax.hist(np.asarray(d_all[:, 0]), bins=40, alpha=0.6, label="generated -> nearest training image")
    if d_real is not None:
        ax.hist(np.asarray(d_real[:, 0]), bins=40, alpha=0.6, label="real -> nearest other real image (baseline)")
    ax.set_xlabel("pixel-space L2 distance")
    ax.set_ylabel("count")
    ax.legend()
    fig.suptitle(f"sample | {k} nearest training images in pixel space | in feature space")
    return save_figure(fig, path, dpi=80)


def _show_image(ax, image):
    """One [-1, 1] image on ``ax`` (grey or RGB), without axes."""
    tile = image_grid(image[None], ncols=1, pad=0)
    ax.imshow(np.squeeze(tile), cmap="gray" if tile.shape[-1] == 1 else None, vmin=0, vmax=255)
    ax.axis("off")
