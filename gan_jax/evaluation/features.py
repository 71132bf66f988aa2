"""Features of sample streams and the scores between them (shell: cached weights, progress bars).

Glue between batches of samples (real data or a generator), the feature
extractors (the digits and MNIST classifiers, the FID Inception, or the raw
points of the 2-D toys; :func:`default_extractor_kind` is the rule of which
samples get which) and the pure metrics. Batches are consumed one at a time:
statistics are merged as they come (``gan_jax.metrics.stats``) and the
feature rows themselves are kept only while there are few enough of them.
"""

from typing import Callable, Iterable, List, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from gan_jax.errors import UserError, from_core
from gan_jax.features import digits_classifier, inception, inception_convert, mnist_classifier
from gan_jax.metrics.frechet import frechet_distance_f64
from gan_jax.metrics.frechet_features import frechet_distance_of_features
from gan_jax.metrics.stats import (
    FeatureStats,
    check_comparable,
    covariance,
    empty_stats,
    update_stats,
)

__all__ = ["Extractor", "FeatureSet", "POINTS_EXTRACTOR", "CLASSIFIERS", "get_extractor", "default_extractor_kind",
           "check_images", "feature_sets", "fid_between", "split_halves"]

#: The extractor name of raw 2-D points used as their own features (the toy mixtures).
POINTS_EXTRACTOR = "points"
#: The project's own classifiers (``--features classifier``), by the one image shape each reads.
CLASSIFIERS = {(8, 8, 1): digits_classifier, (28, 28, 1): mnist_classifier}


class Extractor(NamedTuple):
    """A named feature map ``(B, ...) samples -> (B, dim)`` host arrays, and class probabilities if any.

    ``features`` and ``probs`` take host batches of any length; they run the
    network on chunks of at most ``batch_size`` rows padded to a power of
    two, so a stream of batches compiles it a few times at most.
    """
    name: str
    dim: int
    features: Callable[[np.ndarray], np.ndarray]
    probs: Optional[Callable[[np.ndarray], np.ndarray]]


class FeatureSet(NamedTuple):
    """Streaming statistics of a set of features, and the rows themselves when kept."""
    stats: FeatureStats
    features: Optional[np.ndarray]
    probs: Optional[np.ndarray]


def check_images(images: np.ndarray, where: str) -> np.ndarray:
    """Images must be float ``(N, H, W, C)`` in [-1, 1]; anything else is a UserError."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise UserError(f"{where} has shape {images.shape}; expected images (N, H, W, C)")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1.0 - 1e-3 or hi > 1.0 + 1e-3:
        raise UserError(f"{where} ranges over [{lo:.3g}, {hi:.3g}]; images must be in [-1, 1]")
    return images.astype(np.float32)


def _padded(fn, batch_size: int):
    """``fn`` on host batches of any length: chunks of at most ``batch_size`` rows,
    each padded (repeating its last row) to a power of two, results trimmed."""
    def apply(x: np.ndarray) -> np.ndarray:
        out = []
        for start in range(0, len(x), batch_size):
            chunk = x[start:start + batch_size]
            size = min(batch_size, 1 << (len(chunk) - 1).bit_length())
            padded = np.concatenate([chunk, np.repeat(chunk[-1:], size - len(chunk), axis=0)])
            out.append(np.asarray(fn(jnp.asarray(padded)))[:len(chunk)])
        return np.concatenate(out)
    return apply


def default_extractor_kind(data_shape) -> str:
    """The feature extractor that samples of ``data_shape`` get unless the user picks one.

    - ``(dim,)`` points (the 2-D toys, ``gaussian1d``): ``points``, the samples themselves;
    - 8x8x1 images (scikit-learn's digits): ``classifier``, the digits classifier;
    - 28x28x1 images (MNIST-sized, ``mnist5k``, ``tfds:mnist``): ``classifier``, the MNIST classifier;
    - every other image (RGB, other sizes): ``inception``, the FID Inception (converted weights).

    Training evaluation follows this rule. ``gan-jax fid`` and ``gan-jax eval`` take
    another with ``--features`` (``--features inception`` for 28x28 grey images that are
    not digits, such as Fashion-MNIST); a classifier asked for images of another
    shape than its own is a one-line error (:func:`get_extractor`).
    """
    data_shape = tuple(data_shape)
    if len(data_shape) == 1:
        return POINTS_EXTRACTOR
    return "classifier" if data_shape in CLASSIFIERS else "inception"


# Jitted once per process: the Inception's 24M parameters are arguments, not
# constants baked into each compiled program, and the resize is compiled
# apart so that the trunk compiles once whatever the input size.
_resize_for_inception = jax.jit(inception.resize_for_inception)
_inception_trunk = jax.jit(lambda variables, x: inception.FIDInceptionV3().apply(variables, x))


def get_extractor(kind: str, data_shape, inception_weights: Optional[str] = None) -> Extractor:
    """The feature extractor ``kind`` for samples of ``data_shape``.

    ``kind``: ``auto`` (:func:`default_extractor_kind`), ``classifier`` (the
    classifier of the shape, :data:`CLASSIFIERS`: 8x8x1 or 28x28x1 only), ``inception`` (the FID Inception,
    converted weights from ``inception_weights`` or the cache) or ``points``
    (the samples themselves, for the 2-D toys).
    """
    data_shape = tuple(data_shape)
    if kind == "auto":
        kind = default_extractor_kind(data_shape)
    if kind == POINTS_EXTRACTOR:
        if len(data_shape) != 1:
            raise UserError(f"raw points need (dim,) samples, not images {data_shape}; "
                            "use --features classifier or inception")
        return Extractor(POINTS_EXTRACTOR, data_shape[0], lambda x: np.asarray(x, np.float32), None)
    if len(data_shape) != 3 or data_shape[-1] not in (1, 3):
        raise UserError(f"samples of shape {data_shape} are not images with 1 or 3 channels; "
                        f"--features {kind} reads images")
    if kind == "classifier":
        classifier = CLASSIFIERS.get(data_shape)
        if classifier is None:
            raise UserError(f"the classifiers read 8x8x1 digits (digits classifier) or 28x28x1 digits (MNIST "
                            f"classifier), not {data_shape} images; use --features inception")
        params, _ = classifier.load_or_train_classifier()
        return Extractor(classifier.EXTRACTOR_NAME, classifier.FEATURE_DIM,
                         _padded(jax.jit(lambda x: classifier.classifier_features(params, x)), 500),
                         _padded(jax.jit(lambda x: classifier.classifier_probs(params, x)), 500))
    if kind == "inception":
        variables = inception_convert.load_inception_variables(
            inception_weights or inception_convert.default_weights_path())
        return Extractor(inception.EXTRACTOR_NAME, inception.FEATURE_DIM,
                         _padded(lambda x: _inception_trunk(variables, _resize_for_inception(x)), 50),
                         None)
    raise UserError(f"unknown feature extractor {kind!r}; expected auto, classifier, inception or points")


class _Accumulator:
    """Statistics of the rows added so far; the rows too while at most ``keep`` of them."""

    def __init__(self, extractor: Extractor, keep: Optional[int]):
        self.stats = empty_stats(extractor.dim, extractor.name)
        self.keep = keep
        self.rows: Optional[List[np.ndarray]] = []
        self.probs: Optional[List[np.ndarray]] = [] if extractor.probs is not None else None

    def add(self, features: np.ndarray, probs: Optional[np.ndarray]) -> None:
        self.stats = update_stats(self.stats, features)
        if self.rows is not None and (self.keep is None or self.stats.n <= self.keep):
            self.rows.append(features)
            if self.probs is not None:
                self.probs.append(probs)
        else:
            self.rows = self.probs = None

    def result(self) -> FeatureSet:
        join = lambda parts: None if not parts else np.concatenate(parts)  # noqa: E731
        return FeatureSet(self.stats, join(self.rows), join(self.probs))


def feature_sets(extractor: Extractor, batches: Iterable[np.ndarray], desc: str = "features",
                 progress: bool = True, keep: Optional[int] = None, halves: bool = False) -> List[FeatureSet]:
    """Features of a stream of sample batches: ``[whole]``, or ``[whole, half_a, half_b]``.

    With ``halves`` the samples at even positions of the stream form half A
    and those at odd positions half B (two disjoint halves for the
    real-vs-real baseline). Rows are kept while there are at most ``keep``
    (``None``: all); the statistics are always exact.
    """
    sets = [_Accumulator(extractor, keep) for _ in range(3 if halves else 1)]
    seen = 0
    for batch in tqdm(batches, desc=desc, disable=not progress, leave=False, unit="batch"):
        batch = np.asarray(batch)
        if batch.ndim == 4:
            batch = check_images(batch, desc)
        features = extractor.features(batch)
        probs = extractor.probs(batch) if extractor.probs is not None else None
        sets[0].add(features, probs)
        if halves:
            even = (seen + np.arange(len(batch))) % 2 == 0
            for accumulator, mask in ((sets[1], even), (sets[2], ~even)):
                accumulator.add(features[mask], None if probs is None else probs[mask])
        seen += len(batch)
    if seen == 0:
        raise UserError(f"{desc} gave no samples; check the source")
    return [s.result() for s in sets]


def fid_between(a: FeatureSet, b: FeatureSet) -> float:
    """The Fréchet distance of two feature sets' Gaussian fits, in float64.

    With both sets' rows at hand and fewer rows than dimensions it is computed
    from the rows (``frechet_features``: an n x m SVD), otherwise from the
    statistics (``frechet_distance_f64``); both are the same number.
    """
    with from_core():   # statistics of different extractors or sizes: the user's mismatch, one line
        check_comparable(a.stats, b.stats)
    dim = a.stats.mean.shape[0]
    if a.features is not None and b.features is not None and min(a.stats.n, b.stats.n) <= dim:
        return frechet_distance_of_features(a.features, b.features)
    return frechet_distance_f64(a.stats.mean, covariance(a.stats), b.stats.mean, covariance(b.stats))


def split_halves(x: np.ndarray, seed: int = 0):
    """Two disjoint random halves of ``x`` (the real-vs-real baseline)."""
    order = np.random.default_rng(seed).permutation(len(x))
    half = len(x) // 2
    return x[order[:half]], x[order[half:2 * half]]
