"""Kernel Inception Distance: the unbiased squared MMD with a cubic polynomial kernel.

Binkowski, Sutherland, Arbel & Gretton 2018, "Demystifying MMD GANs",
section 4 (KID) and eq. (2) (the unbiased estimator); the subset protocol
(mean and standard deviation over random subsets) follows their code.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["polynomial_kernel", "mmd2_unbiased", "kernel_inception_distance", "kid_in_parts"]


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


# kernel_inception_distance in three compiled parts, so that a new pair of sample counts
# (N, M) compiles little: the subset keys (once per number of subsets), the rows of each
# side (once per count: drawing them, threefry bits and a sort, is most of KID's compile
# time; a score of M = N samples reuses the N-row program of the other side) and the MMD^2
# of the subsets (once per max(N, M): both sides are padded to that many rows, and the
# padding is never drawn). Keys and rows are integers, so compiling their programs without
# LLVM's optimisations (a third of the compile time) cannot change them.
_INTEGER_PROGRAM = {"xla_backend_optimization_level": 0}


@functools.partial(jax.jit, static_argnames=("num_subsets",), compiler_options=_INTEGER_PROGRAM)
def _subset_keys(key: jax.Array, num_subsets: int):
    pairs = jax.vmap(jax.random.split)(jax.random.split(key, num_subsets))
    return pairs[:, 0], pairs[:, 1]


@functools.partial(jax.jit, static_argnames=("n", "size"), compiler_options=_INTEGER_PROGRAM)
def _subset_rows(keys: jax.Array, n: int, size: int) -> jax.Array:
    return jax.vmap(lambda k: jax.random.choice(k, n, (size,), replace=False))(keys)


@jax.jit
def _mmd2_of_subsets(real: jax.Array, fake: jax.Array, real_rows: jax.Array, fake_rows: jax.Array):
    values = jax.lax.map(lambda rows: mmd2_unbiased(real[rows[0]], fake[rows[1]]), (real_rows, fake_rows))
    return jnp.mean(values), jnp.std(values)


def _pad_rows(x, rows: int) -> jax.Array:
    """``x`` with zero rows appended up to ``rows`` (on the host for host arrays)."""
    if x.shape[0] < rows:
        xp = jnp if isinstance(x, jax.Array) else np
        x = xp.concatenate([x, xp.zeros((rows - x.shape[0],) + x.shape[1:], x.dtype)])
    return jnp.asarray(x)


def kid_in_parts(key: jax.Array, real, fake, num_subsets: int = 100, subset_size: int = 1000):
    """:func:`kernel_inception_distance` (the same subsets and values) from three compiled
    programs, cached by shape: a new (N, M) pair compiles the row draw of a count not
    seen before, and the MMD^2 part for a new max(N, M). Returns ``(mean, std)``."""
    real = real if isinstance(real, jax.Array) else np.asarray(real)
    fake = fake if isinstance(fake, jax.Array) else np.asarray(fake)
    n_real, n_fake = real.shape[0], fake.shape[0]
    size = min(subset_size, n_real, n_fake)
    real_keys, fake_keys = _subset_keys(key, num_subsets)
    rows = max(n_real, n_fake)
    return _mmd2_of_subsets(_pad_rows(real, rows), _pad_rows(fake, rows),
                            _subset_rows(real_keys, n_real, size), _subset_rows(fake_keys, n_fake, size))
