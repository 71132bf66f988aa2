"""Per-class scores of a class-conditional generator.

For generated samples with requested labels y: the accuracy of a classifier
trained on real data, per requested class (a cGAN that honours its condition
scores like real test data), and the Frechet distance (Heusel et al. 2017)
between generated and real features of each class separately.
"""

import jax.numpy as jnp
import numpy as np

from gan_jax.metrics.frechet import frechet_distance_f64

__all__ = ["per_class_accuracy", "per_class_frechet"]


def per_class_accuracy(probs: jnp.ndarray, labels: jnp.ndarray, num_classes: int) -> jnp.ndarray:
    """``(N, C)`` class probabilities, ``(N,)`` requested labels -> ``(num_classes,)``:
    acc_k = #{i : y_i = k, argmax p_i = k} / #{i : y_i = k}; NaN for a class never requested."""
    hit = (jnp.argmax(probs, axis=1) == labels).astype(jnp.float32)
    onehot = (labels[:, None] == jnp.arange(num_classes)[None, :]).astype(jnp.float32)
    count = onehot.sum(axis=0)
    return jnp.where(count > 0, (onehot * hit[:, None]).sum(axis=0) / jnp.maximum(count, 1.0), jnp.nan)


def _gaussian(features: np.ndarray):
    return features.mean(axis=0), np.cov(features, rowvar=False)


def per_class_frechet(feat_a, labels_a, feat_b, labels_b, num_classes: int) -> np.ndarray:
    """``(num_classes,)`` Frechet distances ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``
    between the features ``(N, F)`` of set a and set b restricted to each class
    (float64, on the host); NaN for a class with fewer than 2 samples in either set."""
    feat_a, feat_b = np.asarray(feat_a, np.float64), np.asarray(feat_b, np.float64)
    labels_a, labels_b = np.asarray(labels_a), np.asarray(labels_b)
    out = np.full(num_classes, np.nan)
    for k in range(num_classes):
        a, b = feat_a[labels_a == k], feat_b[labels_b == k]
        if len(a) >= 2 and len(b) >= 2:
            out[k] = frechet_distance_f64(*_gaussian(a), *_gaussian(b))
    return out
