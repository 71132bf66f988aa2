"""Streaming feature statistics (mean and covariance in float64).

50,000 x 2048 features need not sit in memory: batches are merged into
``(n, mean, M2)`` with the pairwise update of Chan, Golub & LeVeque 1979
("Updating formulae and a pairwise algorithm for computing sample
variances"), exact in exact arithmetic and stable in float64. Their ``.npz`` files are
:mod:`gan_jax.evaluation.stats_files`.
"""

from typing import NamedTuple

import numpy as np

__all__ = [
    "FeatureStats", "empty_stats", "update_stats", "stats_from_features", "covariance",
    "check_comparable", "min_samples_note",
]


class FeatureStats(NamedTuple):
    """Running statistics of ``n`` feature vectors of dimension ``d``.

    ``mean`` ``(d,)`` and ``m2`` ``(d, d)`` = sum_i (x_i - mean)(x_i - mean)^T,
    both float64; ``extractor`` names the features' source so that
    statistics of different extractors are never compared.
    """
    n: int
    mean: np.ndarray
    m2: np.ndarray
    extractor: str


def empty_stats(dim: int, extractor: str) -> FeatureStats:
    """Statistics of no samples in dimension ``dim``."""
    return FeatureStats(0, np.zeros(dim, np.float64), np.zeros((dim, dim), np.float64), extractor)


def update_stats(stats: FeatureStats, features) -> FeatureStats:
    """Merge a batch ``(B, d)`` into ``stats`` (Chan et al. 1979, eq. 2.1b).

    n = n_a + n_b, mean = mean_a + delta n_b / n, M2 = M2_a + M2_b +
    delta delta^T n_a n_b / n with delta = mean_b - mean_a.
    """
    x = np.asarray(features, np.float64)
    if x.ndim != 2 or x.shape[1] != stats.mean.shape[0]:
        raise ValueError(f"features of shape {x.shape} do not match statistics of dimension "
                        f"{stats.mean.shape[0]}; use one feature extractor for all batches")
    nb = x.shape[0]
    if nb == 0:
        return stats
    mean_b = x.mean(axis=0)
    centred = x - mean_b
    m2_b = centred.T @ centred
    n = stats.n + nb
    delta = mean_b - stats.mean
    mean = stats.mean + delta * (nb / n)
    m2 = stats.m2 + m2_b + np.outer(delta, delta) * (stats.n * nb / n)
    return FeatureStats(n, mean, m2, stats.extractor)


def stats_from_features(features, extractor: str) -> FeatureStats:
    """Statistics of all rows of ``features`` ``(N, d)`` at once."""
    features = np.asarray(features)
    return update_stats(empty_stats(features.shape[1], extractor), features)


def covariance(stats: FeatureStats) -> np.ndarray:
    """Unbiased sample covariance M2 / (n - 1), ``(d, d)`` float64; needs n >= 2."""
    if stats.n < 2:
        raise ValueError(f"a covariance needs at least 2 samples, got {stats.n}; "
                        f"use at least {stats.mean.shape[0] + 1} (feature dimension + 1) for a full-rank one")
    return stats.m2 / (stats.n - 1)


def min_samples_note(stats: FeatureStats) -> str:
    """A warning when the covariance is singular (n <= d), else ''."""
    d = stats.mean.shape[0]
    if stats.n <= d:
        return (f"only {stats.n} samples for {d}-dimensional features: the covariance is singular and "
                f"the score is biased upwards; use more than {d} samples (ideally 10x that)")
    return ""


def check_comparable(a: FeatureStats, b: FeatureStats) -> None:
    """Raise a ValueError unless a and b share extractor and dimension and have n >= 2."""
    if a.extractor != b.extractor:
        raise ValueError(f"statistics from different feature extractors ({a.extractor!r} vs "
                        f"{b.extractor!r}); recompute both with the same --features")
    if a.mean.shape != b.mean.shape:
        raise ValueError(f"feature dimensions differ ({a.mean.shape[0]} vs {b.mean.shape[0]}); "
                        "recompute both with the same extractor")
    for s in (a, b):
        covariance(s)
