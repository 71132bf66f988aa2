"""Stacked digits: the offline analogue of Stacked MNIST, a benchmark with 1,000 modes.

Stacked MNIST (Metz et al. 2017, "Unrolled generative adversarial networks",
section 3.3.1, "discrete mode collapse"; the benchmark of VEEGAN,
Srivastava et al. 2017, and PacGAN, Lin et al. 2018) puts three independently drawn
MNIST digits into the three colour channels of one image, so the classes
(c0, c1, c2) of the channels name one of 10^3 = 1,000 modes. Here the digits
are scikit-learn's 8x8 digits (:func:`gan_jax.data.load_digits`), which
need no download: images are 8x8x3.

Pure JAX: every function is jit-able and vmaps over keys.
"""

import jax
import jax.numpy as jnp

from gan_jax.errors import UserError

__all__ = ["NUM_STACKED_CHANNELS", "NUM_STACKED_MODES", "stacked_modes", "sample_stacked_digits"]

NUM_STACKED_CHANNELS = 3
NUM_STACKED_MODES = 10 ** NUM_STACKED_CHANNELS


def stacked_modes(channel_classes: jax.Array) -> jax.Array:
    """The mode of each stacked image from the digit classes of its channels.

    mode = 100 * c0 + 10 * c1 + c2, where c_k in 0..9 is the class of
    channel k, so modes run over 0..999 and the map is one-to-one.

    Args:
      channel_classes: ``(n, 3)`` integer classes in 0..9 of channels 0, 1, 2.

    Returns:
      ``(n,)`` int32 modes in 0..999.
    """
    if channel_classes.ndim != 2 or channel_classes.shape[1] != NUM_STACKED_CHANNELS:
        raise UserError(f"channel_classes must have shape (n, 3), got {tuple(channel_classes.shape)}; "
                        "pass one class per channel of each image")
    classes = jnp.asarray(channel_classes, jnp.int32)
    return 100 * classes[:, 0] + 10 * classes[:, 1] + classes[:, 2]


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
        raise UserError(f"images must have shape (M, H, W, 1) with M >= 1, got {tuple(images.shape)}; "
                        "pass single-channel digits such as gan_jax.data.load_digits()[0]")
    if labels.shape != images.shape[:1]:
        raise UserError(f"labels must have shape ({images.shape[0]},), one per image, got {tuple(labels.shape)}")
    if not isinstance(n, int) or n < 1:
        raise UserError(f"n must be a Python int >= 1, got {n!r}; mark it static under jax.jit")
    picks = jax.random.randint(key, (n, NUM_STACKED_CHANNELS), 0, images.shape[0])
    channels = jnp.asarray(images, jnp.float32)[picks, ..., 0]        # (n, 3, H, W)
    stacked = jnp.moveaxis(channels, 1, -1)                          # (n, H, W, 3)
    return stacked, stacked_modes(jnp.asarray(labels)[picks])
