"""Metrics of generated samples: formulas on arrays (pure; no files, no devices, no clock)."""

from gan_jax.metrics import mode_coverage
from gan_jax.metrics.class_stats import class_statistics
from gan_jax.metrics.density_coverage import density_coverage
from gan_jax.metrics.frechet import frechet_distance, frechet_distance_f64
from gan_jax.metrics.kid import kernel_inception_distance
from gan_jax.metrics.nearest_neighbours import nearest_neighbours
from gan_jax.metrics.precision_recall import precision_recall
from gan_jax.metrics.stats import FeatureStats, stats_from_features, update_stats

__all__ = ["mode_coverage", "class_statistics", "density_coverage", "frechet_distance", "frechet_distance_f64",
           "kernel_inception_distance", "nearest_neighbours", "precision_recall", "FeatureStats",
           "stats_from_features", "update_stats"]
