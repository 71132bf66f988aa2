"""Nearest training neighbours of generated samples: the check for memorisation.

A generator that copies its training set puts each sample at (near) zero
distance from a training image (Goodfellow et al. 2014, Fig. 2, show the
nearest training example beside each sample for this reason).
"""

import jax

from gan_jax.metrics.precision_recall import pairwise_distances

__all__ = ["nearest_neighbours"]


def nearest_neighbours(queries: jax.Array, reference: jax.Array, k: int = 1):
    """The k nearest rows of ``reference`` ``(n, ...)`` to each of ``queries`` ``(m, ...)``.

    Inputs are flattened per sample (pixel space or feature space alike).
    Returns ``(distances (m, k), indices (m, k))``, nearest first, Euclidean.
    """
    q = queries.reshape(queries.shape[0], -1)
    r = reference.reshape(reference.shape[0], -1)
    neg, idx = jax.lax.top_k(-pairwise_distances(q, r), k)
    return -neg, idx
