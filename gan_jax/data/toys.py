"""The toy distributions: N(2, 0.5^2) in 1-D and the VEEGAN/PacGAN mixtures in 2-D
(a ring of 8 and a grid of 25 Gaussians, defined once in
:mod:`gan_jax.metrics.mode_coverage`), sampled by one pure JAX function that the
training program runs on the device and the evaluation on the host."""

import functools
from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.metrics.mode_coverage import benchmark_mixture

__all__ = ["GAUSSIAN1D_MEAN", "GAUSSIAN1D_STD", "TOY_DATA", "mixture_centers", "sample_toy", "sample_toy_host"]

#: The 1-D target N(2, 0.5^2).
GAUSSIAN1D_MEAN, GAUSSIAN1D_STD = 2.0, 0.5
#: The 2-D mixtures: ring radius 1, std 0.01; grid spacing 2, std 0.05.
TOY_DATA = ("gaussian1d", "ring8", "grid25")


@functools.lru_cache(maxsize=None)
def _host_mixture(name: str) -> Tuple[np.ndarray, float]:
    """``benchmark_mixture(name)`` on the host, built once per name: read-only
    float64 centres and the std."""
    with jax.ensure_compile_time_eval():   # constants, also when first asked for inside a trace
        centers, std = benchmark_mixture(name)
        centers = np.array(centers, np.float64)
    centers.setflags(write=False)
    return centers, float(std)


def mixture_centers(name: str) -> np.ndarray:
    """Mode centres of ``ring8`` ``(8, 2)`` or ``grid25`` ``(25, 2)`` (float64, host, read-only)."""
    return _host_mixture(name)[0]


@functools.partial(jax.jit, static_argnames=("name", "n"))
def sample_toy(name: str, key: jax.Array, n: int) -> Tuple[jax.Array, jax.Array]:
    """n samples ``(n, dim)`` float32 of a toy distribution and their mode index ``(n,)`` int32.

    ``gaussian1d``: x ~ N(2, 0.5^2) (mode 0). ``ring8``/``grid25``: x = mu_j + std * eps,
    j uniform over the modes, eps ~ N(0, I). Pure JAX (``name`` and ``n`` static): the one
    sampler of the toys, run on the device inside a training step and on the host for
    evaluation alike.
    """
    mode_key, noise_key = jax.random.split(key)
    if name == "gaussian1d":
        x = GAUSSIAN1D_MEAN + GAUSSIAN1D_STD * jax.random.normal(noise_key, (n, 1))
        return x.astype(jnp.float32), jnp.zeros((n,), jnp.int32)
    centers, std = _host_mixture(name)
    modes = jax.random.randint(mode_key, (n,), 0, len(centers))
    x = jnp.asarray(centers, jnp.float32)[modes] + std * jax.random.normal(noise_key, (n, 2))
    return x.astype(jnp.float32), modes.astype(jnp.int32)


def sample_toy_host(name: str, seed: int, n: int) -> Tuple[np.ndarray, np.ndarray]:
    """:func:`sample_toy` with ``PRNGKey(seed)``, as NumPy arrays."""
    x, modes = sample_toy(name, jax.random.PRNGKey(seed), n)
    return np.asarray(x), np.asarray(modes)
