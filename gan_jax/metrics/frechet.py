"""The Fréchet distance between two Gaussians, as used by FID.

Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to
a local Nash equilibrium" (FID), eq. (6); Dowson & Landau 1982 for the
distance itself.
"""

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["frechet_distance", "frechet_distance_f64", "trace_sqrt_product"]


def _trace_sqrt_by_cholesky(sigma1: jax.Array, sigma2: jax.Array) -> jax.Array:
    """With S1 = L L^T (positive definite S1): S1 S2 = L (L^T S2 L) L^{-1} is
    similar to the symmetric PSD L^T S2 L, so one Cholesky factorisation and
    one symmetric eigensolve suffice."""
    chol = jnp.linalg.cholesky(sigma1)
    m = chol.T @ sigma2 @ chol
    eigenvalues = jnp.linalg.eigvalsh(0.5 * (m + m.T))
    return jnp.sum(jnp.sqrt(jnp.maximum(eigenvalues, 0.0)))


def _trace_sqrt_by_eigh(sigma1: jax.Array, sigma2: jax.Array) -> jax.Array:
    """With S1 = V diag(w) V^T (any PSD S1): M = S1^{1/2} S2 S1^{1/2} is
    V-conjugate to diag(sqrt w) V^T S2 V diag(sqrt w)."""
    w, v = jnp.linalg.eigh(sigma1)
    root_w = jnp.sqrt(jnp.maximum(w, 0.0))
    m = (v.T @ sigma2 @ v) * root_w[:, None] * root_w[None, :]
    eigenvalues = jnp.linalg.eigvalsh(0.5 * (m + m.T))
    return jnp.sum(jnp.sqrt(jnp.maximum(eigenvalues, 0.0)))


def trace_sqrt_product(sigma1: jax.Array, sigma2: jax.Array) -> jax.Array:
    """Tr (S1 S2)^{1/2} for symmetric PSD ``(d, d)`` matrices, a scalar.

    S1 S2 is similar to the symmetric PSD matrix S1^{1/2} S2 S1^{1/2} (or
    L^T S2 L for a Cholesky factor L of S1), so Tr (S1 S2)^{1/2} is the sum
    of the square roots of the eigenvalues of a symmetric matrix. Symmetric
    eigensolvers replace scipy's non-symmetric sqrtm, whose round-off gives
    complex or negative eigenvalues; clamping at 0 removes the round-off
    negatives. A positive definite S1 takes the Cholesky route (one
    eigensolve, about twice as fast); a singular S1 (fewer samples than
    dimensions), where Cholesky fails, takes the eigendecomposition route.
    """
    chol_ok = jnp.all(jnp.isfinite(jnp.linalg.cholesky(sigma1)))
    return jax.lax.cond(chol_ok, _trace_sqrt_by_cholesky, _trace_sqrt_by_eigh, sigma1, sigma2)


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
