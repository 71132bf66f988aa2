"""Improved precision and recall for generative models (k-NN manifolds).

Kynkäänniemi, Karras, Laine, Lehtinen & Aila 2019, "Improved precision and
recall metric for assessing generative models", section 2, eqs. (1)-(2):
each set's manifold is the union of balls around its points with radius
the distance to the point's k-th nearest neighbour in the same set (k = 3 in
the paper). Precision = fraction of generated samples inside the real
manifold (quality); recall = fraction of real samples inside the generated
manifold (coverage, which mode collapse lowers).

The k-NN balls are shared with density and coverage
(:mod:`gan_jax.metrics.density_coverage`): :func:`knn_radii` and
:func:`ball_counts` hold at most ``max_block_elements`` distances at once,
walking over blocks of rows in a Python loop (under ``jax.jit`` the loop
unrolls: jit them on sets of a few blocks). A set that fits one block is
computed exactly as by one whole-matrix product; across blocks a distance
may differ from it in the last bits (another summation order), which moves
a sample across a ball's boundary only if it lies within round-off of it.
"""

import jax
import jax.numpy as jnp

__all__ = ["MAX_BLOCK_ELEMENTS", "check_feature_rows", "pairwise_distances", "knn_radii", "ball_counts",
           "manifold_coverage", "precision_recall"]

#: Distances held at once: 2^24 float32 are 64 MiB (2000 x 8388 in one block).
MAX_BLOCK_ELEMENTS = 2**24


def pairwise_distances(x: jax.Array, y: jax.Array) -> jax.Array:
    """Euclidean distances ``(n, m)`` between rows of ``(n, d)`` and ``(m, d)``.

    ``|x|^2 + |y|^2 - 2 x.y``, clamped at 0 against round-off before the root.
    """
    sq = jnp.sum(x * x, 1)[:, None] + jnp.sum(y * y, 1)[None, :] - 2.0 * x @ y.T
    return jnp.sqrt(jnp.maximum(sq, 0.0))


def check_feature_rows(name: str, x, d=None) -> None:
    """ValueError unless ``x`` is ``(n, d)`` with n >= 1 (and the given d)."""
    if x.ndim != 2 or x.shape[0] < 1:
        raise ValueError(f"{name} must be a non-empty (samples, features) array, got shape {tuple(x.shape)}")
    if d is not None and x.shape[1] != d:
        raise ValueError(f"{name} has {x.shape[1]} features per sample where {d} are expected")


def _rows_per_block(columns: int, max_block_elements: int) -> int:
    """Rows of a ``(rows, columns)`` block of at most ``max_block_elements`` entries (at least one row)."""
    if max_block_elements < 1:
        raise ValueError(f"max_block_elements must be at least 1, got {max_block_elements}")
    return max(1, max_block_elements // max(columns, 1))


def _row_blocks(n: int, block: int):
    """Slices ``[start, stop)`` covering ``range(n)`` in order, ``block`` rows each (the last may be shorter)."""
    return [slice(start, min(start + block, n)) for start in range(0, n, block)]


def knn_radii(x: jax.Array, k: int = 3, max_block_elements: int = MAX_BLOCK_ELEMENTS) -> jax.Array:
    """Distance of each row of ``(n, d)`` to its k-th nearest other row: ``(n,)``, for 1 <= k < n.

    r_k(x_i) = the (k+1)-th smallest of ``|x_i - x_j|`` over all j, the smallest
    being x_i itself at distance 0. Blocks of rows hold at most
    ``max_block_elements`` distances.
    """
    check_feature_rows("the set whose k-NN radii are taken", x)
    n = x.shape[0]
    if not 1 <= k < n:
        raise ValueError(f"k-NN radii need 1 <= k < samples; got k = {k} with {n} samples")

    def radii_of(rows):
        # The k+1 smallest distances of each row, largest last: a selection, so the same value
        # as entry k of the sorted row.
        return -jax.lax.top_k(-pairwise_distances(rows, x), k + 1)[0][:, k]

    parts = [radii_of(x[rows]) for rows in _row_blocks(n, _rows_per_block(n, max_block_elements))]
    return parts[0] if len(parts) == 1 else jnp.concatenate(parts)


def ball_counts(centres: jax.Array, radii: jax.Array, queries: jax.Array,
                max_block_elements: int = MAX_BLOCK_ELEMENTS):
    """Which closed balls ``B(c_i, r_i) = {q : |q - c_i| <= r_i}`` hold which queries.

    centres ``(n, d)``, radii ``(n,)``, queries ``(m, d)``. Returns
    ``(counts (m,) int32, covered (n,) bool)``: counts_j = number of balls
    holding q_j, covered_i = some query lies in ball i. Blocks of queries
    hold at most ``max_block_elements`` distances.
    """
    check_feature_rows("the ball centres", centres)
    check_feature_rows("the queries", queries, centres.shape[1])
    if radii.shape != centres.shape[:1]:
        raise ValueError(f"radii must have shape ({centres.shape[0]},), one per centre, got {tuple(radii.shape)}")
    counts, covered = [], jnp.zeros(centres.shape[0], bool)
    for rows in _row_blocks(queries.shape[0], _rows_per_block(centres.shape[0], max_block_elements)):
        inside = pairwise_distances(queries[rows], centres) <= radii[None, :]
        counts.append(jnp.sum(inside, axis=1, dtype=jnp.int32))
        covered = covered | jnp.any(inside, axis=0)
    return (counts[0] if len(counts) == 1 else jnp.concatenate(counts)), covered


def manifold_coverage(manifold: jax.Array, queries: jax.Array, k: int = 3,
                      max_block_elements: int = MAX_BLOCK_ELEMENTS) -> jax.Array:
    """Fraction of ``queries`` ``(m, d)`` within some ball of the k-NN manifold of ``(n, d)``.

    f(q) = 1 if there is a manifold point p with ``|q - p| <= r_k(p)``; needs k < n.
    """
    radii = knn_radii(manifold, k, max_block_elements)
    counts, _ = ball_counts(manifold, radii, queries, max_block_elements)
    return jnp.mean((counts > 0).astype(jnp.float32))


def precision_recall(real: jax.Array, fake: jax.Array, k: int = 3,
                     max_block_elements: int = MAX_BLOCK_ELEMENTS):
    """``(precision, recall)`` scalars for real ``(n, d)`` and generated ``(m, d)`` features (k < n, k < m)."""
    return (manifold_coverage(real, fake, k, max_block_elements),
            manifold_coverage(fake, real, k, max_block_elements))
