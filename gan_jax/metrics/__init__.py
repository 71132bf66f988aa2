"""Metrics of generated samples (pure functions of arrays)."""

from gan_jax.metrics import mode_coverage  # noqa: F401
from gan_jax.metrics.frechet import frechet_distance, frechet_distance_f64  # noqa: F401
from gan_jax.metrics.stats import (FeatureStats, load_stats, save_stats, stats_from_features,  # noqa: F401
                                   update_stats)
from gan_jax.metrics.kid import kernel_inception_distance  # noqa: F401
from gan_jax.metrics.precision_recall import precision_recall  # noqa: F401
from gan_jax.metrics.nearest_neighbours import nearest_neighbours  # noqa: F401
from gan_jax.metrics.class_stats import class_statistics  # noqa: F401
