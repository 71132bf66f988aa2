"""Kernel Inception Distance: the unbiased squared MMD with a cubic polynomial kernel.

Binkowski, Sutherland, Arbel & Gretton 2018, "Demystifying MMD GANs",
section 4 (KID) and eq. (2) (the unbiased estimator); the subset protocol
(mean and standard deviation over random subsets) follows their code.
"""

import jax
import jax.numpy as jnp

__all__ = ["polynomial_kernel", "mmd2_unbiased", "kernel_inception_distance"]


def polynomial_kernel(x: jax.Array, y: jax.Array) -> jax.Array:
    """k(x, y) = (x . y / d + 1)^3 for ``(n, d)`` and ``(m, d)``: ``(n, m)``."""
    d = x.shape[-1]
    return (x @ y.T / d + 1.0) ** 3


def mmd2_unbiased(x: jax.Array, y: jax.Array) -> jax.Array:
    """Unbiased MMD^2 between ``(m, d)`` and ``(n, d)`` samples, a scalar.

    sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (n (n - 1))
    - 2 sum_{i, j} k(x_i, y_j) / (m n); can be negative when the laws agree.
    """
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
    sxx = (jnp.sum(kxx) - jnp.trace(kxx)) / (m * (m - 1))
    syy = (jnp.sum(kyy) - jnp.trace(kyy)) / (n * (n - 1))
    return sxx + syy - 2.0 * jnp.mean(kxy)


def kernel_inception_distance(key: jax.Array, real: jax.Array, fake: jax.Array,
                              num_subsets: int = 100, subset_size: int = 1000):
    """KID: mean and standard deviation of :func:`mmd2_unbiased` over random subsets.

    ``real`` ``(N, d)``, ``fake`` ``(M, d)``; each subset draws
    ``min(subset_size, N, M)`` rows of each without replacement. Returns
    ``(mean, std)`` scalars. Sizes are static under jit.
    """
    size = min(subset_size, real.shape[0], fake.shape[0])

    def one(k):
        kr, kf = jax.random.split(k)
        xr = real[jax.random.choice(kr, real.shape[0], (size,), replace=False)]
        xf = fake[jax.random.choice(kf, fake.shape[0], (size,), replace=False)]
        return mmd2_unbiased(xr, xf)

    values = jax.lax.map(one, jax.random.split(key, num_subsets))
    return jnp.mean(values), jnp.std(values)
