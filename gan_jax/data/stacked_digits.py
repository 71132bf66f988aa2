"""Stacked digits: the offline analogue of Stacked MNIST, a benchmark with 1,000 modes.

Stacked MNIST (Metz et al. 2017, "Unrolled generative adversarial networks",
section 3.3.1, "discrete mode collapse"; the benchmark of VEEGAN,
Srivastava et al. 2017, and PacGAN, Lin et al. 2018) puts three independently drawn
MNIST digits into the three colour channels of one image, so the classes
(c0, c1, c2) of the channels name one of 10^3 = 1,000 modes. Here the digits
are scikit-learn's 8x8 digits (:func:`gan_jax.data.sources.load_digits`), which
need no download: images are 8x8x3.

Sampling is pure JAX (jit-able, vmaps over keys); :func:`real_stacked_digits` reads
scikit-learn's digits. The mode formula and the scores are in :mod:`gan_jax.metrics.stacked_modes`.
"""

from typing import Tuple

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.data.digits import load_digits
from gan_jax.metrics.stacked_modes import NUM_STACKED_CHANNELS, stacked_modes

__all__ = ["sample_stacked_digits", "real_stacked_digits"]

def sample_stacked_digits(key: jax.Array, images: jax.Array, labels: jax.Array, n: int):
    """``n`` stacked-digit images and their modes.

    Channel k of image i is ``images[j_ik]`` with the indices j_ik drawn
    independently and uniformly from 0..M-1 (so each channel's class follows
    the class frequencies of ``images``, as Stacked MNIST follows MNIST's);
    its mode is 100 * c0 + 10 * c1 + c2 with c_k = ``labels[j_ik]``.

    Jit it with ``n`` static (``jax.jit(sample_stacked_digits, static_argnames="n")``);
    it vmaps over ``key``.

    Args:
      key: a PRNG key.
      images: ``(M, H, W, 1)`` single-channel digits in [-1, 1], M >= 1.
      labels: ``(M,)`` integer classes in 0..9 of ``images``.
      n: how many stacked images to draw (a Python int >= 1).

    Returns:
      ``(stacked, modes)``: ``(n, H, W, 3)`` float32 in [-1, 1] and ``(n,)`` int32 in 0..999.
    """
    if images.ndim != 4 or images.shape[-1] != 1 or images.shape[0] < 1:
        raise ValueError(f"images must have shape (M, H, W, 1) with M >= 1, got {tuple(images.shape)}; "
                        "pass single-channel digits such as gan_jax.data.sources.load_digits()[0]")
    if labels.shape != images.shape[:1]:
        raise ValueError(f"labels must have shape ({images.shape[0]},), one per image, got {tuple(labels.shape)}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a Python int >= 1, got {n!r}; mark it static under jax.jit")
    picks = jax.random.randint(key, (n, NUM_STACKED_CHANNELS), 0, images.shape[0])
    channels = jnp.asarray(images, jnp.float32)[picks, ..., 0]        # (n, 3, H, W)
    stacked = jnp.moveaxis(channels, 1, -1)                          # (n, H, W, 3)
    return stacked, stacked_modes(jnp.asarray(labels)[picks])


def real_stacked_digits(n: int, seed: int = 0) -> Tuple[np.ndarray, np.ndarray]:
    """``n`` real stacked digits ``(n, 8, 8, 3)`` and their true modes ``(n,)``, drawn from
    all 1,797 of :func:`gan_jax.data.sources.load_digits` with ``PRNGKey(seed)`` (shell: reads the data)."""
    images, labels = load_digits()
    stacked, modes = jax.jit(sample_stacked_digits, static_argnames="n")(
        jax.random.PRNGKey(seed), jnp.asarray(images), jnp.asarray(labels), n=n)
    return np.asarray(stacked), np.asarray(modes)
