"""Improved precision and recall for generative models (k-NN manifolds).

Kynkäänniemi, Karras, Laine, Lehtinen & Aila 2019, "Improved precision and
recall metric for assessing generative models", section 2, eqs. (1)-(2):
each set's manifold is the union of balls around its points with radius
the distance to the point's k-th nearest neighbour in the same set (k = 3 in
the paper). Precision = fraction of generated samples inside the real
manifold (quality); recall = fraction of real samples inside the generated
manifold (coverage, which mode collapse lowers).
"""

import jax
import jax.numpy as jnp

__all__ = ["pairwise_distances", "knn_radii", "manifold_coverage", "precision_recall"]


def pairwise_distances(x: jax.Array, y: jax.Array) -> jax.Array:
    """Euclidean distances ``(n, m)`` between rows of ``(n, d)`` and ``(m, d)``.

    ``|x|^2 + |y|^2 - 2 x.y``, clamped at 0 against round-off before the root.
    """
    sq = jnp.sum(x * x, 1)[:, None] + jnp.sum(y * y, 1)[None, :] - 2.0 * x @ y.T
    return jnp.sqrt(jnp.maximum(sq, 0.0))


def knn_radii(x: jax.Array, k: int = 3) -> jax.Array:
    """Distance of each row of ``(n, d)`` to its k-th nearest other row: ``(n,)``."""
    d = pairwise_distances(x, x)
    # Column 0 of the sorted row is the point itself (distance 0).
    return jnp.sort(d, axis=1)[:, k]


def manifold_coverage(manifold: jax.Array, queries: jax.Array, k: int = 3) -> jax.Array:
    """Fraction of ``queries`` ``(m, d)`` within some ball of the k-NN manifold of ``(n, d)``.

    f(q) = 1 if there is a manifold point p with ``|q - p| <= r_k(p)``.
    """
    radii = knn_radii(manifold, k)
    inside = jnp.any(pairwise_distances(queries, manifold) <= radii[None, :], axis=1)
    return jnp.mean(inside.astype(jnp.float32))


def precision_recall(real: jax.Array, fake: jax.Array, k: int = 3):
    """``(precision, recall)`` scalars for real ``(n, d)`` and generated ``(m, d)`` features."""
    return manifold_coverage(real, fake, k), manifold_coverage(fake, real, k)
