"""Density and coverage of generated samples (k-NN balls around the real samples only).

Naeem, Oh, Uh, Choi & Yoo 2020, "Reliable Fidelity and Diversity Metrics for
Generative Models", section 3 (k = 5 in the paper). With real features
X_1..X_N, generated features Y_1..Y_M and r_k(X_i) the distance from X_i to
its k-th nearest other real sample, ``B_i = {y : |y - X_i| <= r_k(X_i)}``:

    density  = 1/(k M) * sum_j sum_i 1[Y_j in B_i]
    coverage = 1/N * sum_i 1[exists j : Y_j in B_i]

Density counts how many real neighbourhoods hold each sample, so one real
outlier's large ball adds at most 1/k to it where it can raise precision by
up to 1; coverage asks of each real sample whether anything was generated
near it, with balls built from the real samples alone. For two independent
samples of one law both have closed-form means (derived in the paper; both
follow from exchangeability): E[density] = 1 and

    E[coverage] = 1 - prod_{t=0}^{k-1} (N - 1 - t) / (N + M - 1 - t)  -> 1 - 2^-k  (M = N -> inf).

The balls are closed, as in our improved precision/recall
(:mod:`gan_jax.metrics.precision_recall`, whose blocked k-NN code this
shares); the strict inequality of the paper's code differs only on ties.
"""

import jax
import jax.numpy as jnp

from gan_jax.metrics.precision_recall import MAX_BLOCK_ELEMENTS, ball_counts, check_feature_rows, knn_radii

__all__ = ["DENSITY_COVERAGE_K", "density_coverage", "expected_coverage_same_law"]

#: The k of the k-NN balls, as in Naeem et al. 2020.
DENSITY_COVERAGE_K = 5


def density_coverage(real: jax.Array, fake: jax.Array, k: int = DENSITY_COVERAGE_K,
                     max_block_elements: int = MAX_BLOCK_ELEMENTS):
    """``(density, coverage)`` float32 scalars of generated ``(M, d)`` against real ``(N, d)`` features.

    Needs 1 <= k < N and M >= 1 (ValueError otherwise). Density lies in
    [0, N/k] (1 on average for samples of the real law), coverage in [0, 1].
    At most ``max_block_elements`` distances are held at once.
    """
    check_feature_rows("the real features", real)
    check_feature_rows("the generated features", fake, real.shape[1])
    radii = knn_radii(real, k, max_block_elements)
    counts, covered = ball_counts(real, radii, fake, max_block_elements)
    density = jnp.mean(counts.astype(jnp.float32)) / k
    return density, jnp.mean(covered.astype(jnp.float32))


def expected_coverage_same_law(n_real: int, n_fake: int, k: int = DENSITY_COVERAGE_K) -> float:
    """E[coverage] when real and generated samples are independent draws of one continuous law.

    X_i is uncovered iff its k nearest among the other N - 1 reals and the M
    fakes are all real: prod_{t<k} (N-1-t) / (N+M-1-t).
    """
    if not 1 <= k < n_real or n_fake < 1:
        raise ValueError(f"need 1 <= k < n_real and n_fake >= 1; got k = {k}, n_real = {n_real}, n_fake = {n_fake}")
    uncovered = 1.0
    for t in range(k):
        uncovered *= (n_real - 1 - t) / (n_real + n_fake - 1 - t)
    return 1.0 - uncovered
