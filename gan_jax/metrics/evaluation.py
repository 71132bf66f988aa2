"""Feature extraction and scoring of image sets (shell: progress bars, cached weights).

Glue between data, the feature extractors (the digits classifier or the
FID Inception) and the pure metrics; ``gan-jax fid`` and ``gan-jax eval``
call these functions and nothing else computes.
"""

from typing import Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
from tqdm import tqdm

from gan_jax.errors import UserError
from gan_jax.metrics.frechet import frechet_distance_f64
from gan_jax.metrics.stats import (FeatureStats, check_comparable, covariance, empty_stats,
                                   update_stats)

__all__ = ["Extractor", "get_extractor", "extract_features", "feature_stats", "fid_from_stats",
           "split_halves", "check_images"]


class Extractor(NamedTuple):
    """A named feature map ``images (N, H, W, C) in [-1, 1] -> (N, dim)``, and class probabilities if any."""
    name: str
    dim: int
    features: Callable
    probs: Optional[Callable]


def check_images(images: np.ndarray, where: str) -> np.ndarray:
    """Images must be float ``(N, H, W, C)`` in [-1, 1]; anything else is a UserError."""
    images = np.asarray(images)
    if images.ndim != 4:
        raise UserError(f"{where} has shape {images.shape}; expected images (N, H, W, C)")
    lo, hi = float(images.min()), float(images.max())
    if lo < -1.0 - 1e-3 or hi > 1.0 + 1e-3:
        raise UserError(f"{where} ranges over [{lo:.3g}, {hi:.3g}]; images must be in [-1, 1]")
    return images.astype(np.float32)


def get_extractor(kind: str, image_shape, inception_weights: Optional[str] = None) -> Extractor:
    """``kind``: ``auto`` (classifier for 8x8x1 digits, else Inception), ``classifier`` or ``inception``."""
    digits_shape = tuple(image_shape) == (8, 8, 1)
    if kind == "auto":
        kind = "classifier" if digits_shape else "inception"
    if kind == "classifier":
        if not digits_shape:
            raise UserError(f"the digits classifier reads 8x8x1 images, not {tuple(image_shape)}; "
                            "use --features inception")
        from gan_jax.metrics import classifier
        params, _ = classifier.load_or_train_classifier()
        return Extractor(classifier.EXTRACTOR_NAME, 64,
                         jax.jit(lambda x: classifier.classifier_features(params, x)),
                         jax.jit(lambda x: classifier.classifier_probs(params, x)))
    if kind == "inception":
        from gan_jax.metrics import inception, inception_convert
        variables = inception_convert.load_inception_variables(
            inception_weights or inception_convert.default_weights_path())
        return Extractor(inception.EXTRACTOR_NAME, inception.FEATURE_DIM,
                         jax.jit(lambda x: inception.inception_features(variables, x)), None)
    raise UserError(f"unknown feature extractor {kind!r}; expected auto, classifier or inception")


def _batched(fn, images: np.ndarray, batch_size: int, desc: str, progress: bool) -> np.ndarray:
    # A fixed batch shape (the last batch padded) compiles the extractor once.
    n = len(images)
    size = min(batch_size, n)
    out = []
    for start in tqdm(range(0, n, size), desc=desc, disable=not progress, leave=False):
        batch = images[start:start + size]
        pad = size - len(batch)
        if pad:
            batch = np.concatenate([batch, np.repeat(batch[-1:], pad, axis=0)])
        out.append(np.asarray(fn(jnp.asarray(batch)))[:size - pad])
    return np.concatenate(out)


def extract_features(extractor: Extractor, images, batch_size: int = 250, progress: bool = True,
                     desc: str = "features") -> np.ndarray:
    """Features ``(N, dim)`` of images ``(N, H, W, C)`` in [-1, 1], in batches."""
    return _batched(extractor.features, check_images(images, desc), batch_size, desc, progress)


def feature_stats(extractor: Extractor, images, batch_size: int = 250, progress: bool = True,
                  desc: str = "features") -> FeatureStats:
    """Streaming float64 statistics of the features of ``images``."""
    images = check_images(images, desc)
    stats = empty_stats(extractor.dim, extractor.name)
    for start in tqdm(range(0, len(images), batch_size), desc=desc, disable=not progress, leave=False):
        stats = update_stats(stats, np.asarray(extractor.features(jnp.asarray(images[start:start + batch_size]))))
    return stats


def fid_from_stats(a: FeatureStats, b: FeatureStats) -> float:
    """Fréchet distance of two statistics, after checking they are comparable."""
    check_comparable(a, b)
    return frechet_distance_f64(a.mean, covariance(a), b.mean, covariance(b))


def split_halves(x: np.ndarray, seed: int = 0):
    """Two disjoint random halves of ``x`` (the real-vs-real baseline)."""
    order = np.random.default_rng(seed).permutation(len(x))
    half = len(x) // 2
    return x[order[:half]], x[order[half:2 * half]]
