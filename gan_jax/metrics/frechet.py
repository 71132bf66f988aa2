"""The Fréchet distance between two Gaussians, as used by FID.

Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to
a local Nash equilibrium" (FID), eq. (6); Dowson & Landau 1982 for the
distance itself.
"""

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["frechet_distance", "frechet_distance_f64", "trace_sqrt_product"]


def trace_sqrt_product(sigma1: jax.Array, sigma2: jax.Array) -> jax.Array:
    """Tr (S1 S2)^{1/2} for symmetric PSD ``(d, d)`` matrices, a scalar.

    S1 S2 is similar to the symmetric PSD matrix S1^{1/2} S2 S1^{1/2}
    (S1 S2 = S1^{1/2} M S1^{-1/2} where S1 is invertible, and by continuity
    otherwise), so Tr (S1 S2)^{1/2} = sum_i sqrt(lambda_i(M)). With
    S1 = V diag(w) V^T, M is V^T-conjugate to
    diag(sqrt w) V^T S2 V diag(sqrt w), which has the same eigenvalues and
    costs two matrix products. Symmetric eigendecompositions replace scipy's
    non-symmetric sqrtm, whose round-off gives complex or negative
    eigenvalues; clamping at 0 removes the round-off negatives of singular
    covariances (fewer samples than dimensions).
    """
    w, v = jnp.linalg.eigh(sigma1)
    root_w = jnp.sqrt(jnp.maximum(w, 0.0))
    m = (v.T @ sigma2 @ v) * root_w[:, None] * root_w[None, :]
    # Symmetrise so that eigvalsh sees exactly the matrix it assumes.
    eigenvalues = jnp.linalg.eigvalsh(0.5 * (m + m.T))
    return jnp.sum(jnp.sqrt(jnp.maximum(eigenvalues, 0.0)))


def frechet_distance(mu1: jax.Array, sigma1: jax.Array, mu2: jax.Array, sigma2: jax.Array) -> jax.Array:
    """d^2 = |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2}), a scalar.

    Means ``(d,)``, covariances ``(d, d)`` symmetric PSD. Pure and
    jit-compilable; computes in the dtype of its inputs (float64 needs x64
    enabled, see :func:`frechet_distance_f64`). The result is clamped at 0,
    which the exact value is, against round-off.
    """
    diff = mu1 - mu2
    d2 = diff @ diff + jnp.trace(sigma1) + jnp.trace(sigma2) - 2.0 * trace_sqrt_product(sigma1, sigma2)
    return jnp.maximum(d2, 0.0)


_frechet_distance_jit = jax.jit(frechet_distance)


def frechet_distance_f64(mu1, sigma1, mu2, sigma2) -> float:
    """:func:`frechet_distance` in float64 as a Python float.

    JAX's x64 switch is global, so it is turned on only for this call with the
    scoped ``jax.enable_x64(True)`` context; inputs are converted to float64
    inside it (on a backend without float64 the computation falls back to
    the backend's widest float).
    """
    with jax.enable_x64(True):
        args = [jnp.asarray(np.asarray(a, np.float64)) for a in (mu1, sigma1, mu2, sigma2)]
        return float(_frechet_distance_jit(*args))
