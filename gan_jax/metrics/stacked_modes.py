"""Modes captured and KL to uniform on stacked digits (1,000 modes), from samples.

The Stacked MNIST protocol of VEEGAN (Srivastava et al. 2017) and PacGAN
(Lin et al. 2018): draw 26,000 samples from the generator, classify each of
the three channels with a pretrained digit classifier, read the mode
100 * c0 + 10 * c1 + c2 (:func:`stacked_modes`),
and report

- modes captured: the number of modes with at least one sample (max 1,000);
- KL(p || u) = sum_j p_j log(p_j K) of the generated mode histogram p to the
  uniform distribution u over the K = 1,000 modes (0 log 0 = 0).

Checked against PacGAN's released code (``fjxmlzn/PacGAN``,
``stacked_MNIST_experiments``): ``num_test_sample`` is 26,000 in the
VEEGAN experiment (25,600 in the unrolled-GAN one), each channel is
classified separately and the KL is sum p log(p / q) over the modes with
p > 0, q = 1/1000. Published numbers (PacGAN Table 2, read from the results
image in that repository; the first four rows are quoted from VEEGAN):
DCGAN 99.0 modes, KL 3.40; ALI 16.0, 5.40; unrolled GAN 48.7, 4.32;
VEEGAN 150.0, 2.95; PacDCGAN2 1000.0 +- 0.00, 0.06 +- 0.003 (10 trials).
With a discriminator 1/4 the size of the generator (PacGAN Table 3, the
setting of Metz et al. 2017): DCGAN 30.6 +- 20.73 modes, KL 5.99 +- 0.42
(quoted from Metz et al.), PacGAN's own DCGAN 78.5 +- 17.56, 5.21 +- 0.19,
PacDCGAN2 484.5 +- 32.99, 2.61 +- 0.22 (50 trials); with D 1/2 the size of G,
PacGAN's DCGAN 487.7 +- 34.59, 2.24 +- 0.15.

Sampling floor: even exact samples have KL > 0. For N samples from the
uniform distribution over K modes, 2N KL(p_hat || u) is approximately
chi-squared with K - 1 degrees of freedom, so E[KL] ~= (K - 1) / (2N):
0.0192 at N = 26,000, K = 1,000. Here the digits are scikit-learn's 8x8 digits
and the classifier is :mod:`gan_jax.features.digits_classifier` (98.9 % accurate on
its held-out split), so scores are comparable with each other, not with the
MNIST papers' absolute values. Real stacked digits score 1,000 modes and KL
0.0185-0.0197 (three seeds of 26,000; the exact label modes give the same
to within 0.0002), at the floor: the classifier's errors do not show.
"""

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["STACKED_EVAL_SAMPLES", "mode_histogram", "kl_to_uniform", "expected_kl_floor", "channel_classes",
           "stacked_mode_histogram", "scores_of_histogram", "stacked_mode_scores", "NUM_STACKED_CHANNELS",
           "NUM_STACKED_MODES", "stacked_modes"]

#: The number of generator samples the stacked-digits protocol classifies.
STACKED_EVAL_SAMPLES = 26_000

#: Digits stacked per image, one per channel.
NUM_STACKED_CHANNELS = 3
#: The number of modes, 10 ** channels (1,000 for three channels).
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
        raise ValueError(f"channel_classes must have shape (n, 3), got {tuple(channel_classes.shape)}; "
                        "pass one class per channel of each image")
    classes = jnp.asarray(channel_classes, jnp.int32)
    return 100 * classes[:, 0] + 10 * classes[:, 1] + classes[:, 2]


def mode_histogram(modes: jax.Array, num_modes: int = NUM_STACKED_MODES) -> jax.Array:
    """Counts h_j = #{i : modes_i = j}, j = 0..num_modes-1; modes outside that range are not counted.

    Args:
      modes: ``(n,)`` integer modes.
      num_modes: K, a Python int >= 1 (static under jit).

    Returns:
      ``(K,)`` int32 counts.
    """
    if modes.ndim != 1:
        raise ValueError(f"modes must have shape (n,), got {tuple(modes.shape)}; flatten them first")
    if not isinstance(num_modes, int) or num_modes < 1:
        raise ValueError(f"num_modes must be a Python int >= 1, got {num_modes!r}")
    modes = jnp.asarray(modes, jnp.int32)
    inside = (modes >= 0) & (modes < num_modes)
    return jnp.bincount(jnp.where(inside, modes, 0), weights=inside.astype(jnp.int32), length=num_modes)


def kl_to_uniform(histogram: jax.Array) -> jax.Array:
    """KL(p || u) = sum_j p_j log(p_j K), with p = h / sum(h), u uniform over the K bins, 0 log 0 = 0.

    0 for a uniform histogram, log K when all mass is in one bin.

    Args:
      histogram: ``(K,)`` non-negative counts (or probabilities) with a positive sum.

    Returns:
      a float32 scalar in [0, log K] (nan if the histogram sums to 0).
    """
    if histogram.ndim != 1 or histogram.shape[0] < 1:
        raise ValueError(f"histogram must have shape (K,) with K >= 1, got {tuple(histogram.shape)}")
    counts = jnp.asarray(histogram, jnp.float32)
    p = counts / jnp.sum(counts)
    return jnp.sum(jax.scipy.special.xlogy(p, p * counts.shape[0]))


def expected_kl_floor(num_samples: int, num_modes: int = NUM_STACKED_MODES) -> float:
    """(K - 1) / (2N): the expected KL(p_hat || u) of N exact uniform samples over K modes, to first order."""
    return (num_modes - 1) / (2.0 * num_samples)


def channel_classes(images: jax.Array, classify_fn: Callable) -> jax.Array:
    """The class of every channel: ``(B, H, W, 3) -> (B, 3)``.

    ``classify_fn`` maps single-channel images ``(B', H, W, 1)`` to integer classes ``(B',)``;
    it is called once, on all 3B channels.
    """
    batch = images.shape[0]
    channels = jnp.moveaxis(images, -1, 1).reshape((batch * NUM_STACKED_CHANNELS,) + images.shape[1:3] + (1,))
    return jnp.asarray(classify_fn(channels)).reshape(batch, NUM_STACKED_CHANNELS)


def stacked_mode_histogram(images, classify_fn: Callable, batch_size: int = 2000) -> np.ndarray:
    """Counts of the 1,000 modes of stacked-digit images (shell: loops over batches on the host).

    Args:
      images: ``(N, H, W, 3)`` images in [-1, 1] (NumPy or JAX), N >= 1.
      classify_fn: single-channel images ``(B, H, W, 1)`` -> integer classes ``(B,)`` in 0..9,
        e.g. :func:`gan_jax.features.digits_classifier.digit_classify_fn`; it always gets ``3 * batch_size`` images (the last
        batch is padded), so a jitted one compiles once.
      batch_size: stacked images classified per call (>= 1).

    Returns:
      ``(1000,)`` int64 counts h_j = #{i : mode of image i = j}, summing to N.
    """
    if getattr(images, "ndim", None) != 4 or images.shape[-1] != NUM_STACKED_CHANNELS or len(images) < 1:
        raise ValueError(f"stacked digits must have shape (N, H, W, 3) with N >= 1, got "
                        f"{tuple(getattr(images, 'shape', ()))}; pass samples of a 3-channel generator")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    histogram = np.zeros(NUM_STACKED_MODES, np.int64)
    for start in range(0, len(images), batch_size):
        batch = np.asarray(images[start:start + batch_size], np.float32)
        real_rows = len(batch)
        if real_rows < batch_size:
            batch = np.concatenate([batch, np.zeros((batch_size - real_rows,) + batch.shape[1:], np.float32)])
        modes = stacked_modes(channel_classes(jnp.asarray(batch), classify_fn))[:real_rows]
        histogram += np.asarray(mode_histogram(modes))
    return histogram


def scores_of_histogram(histogram) -> dict:
    """``{"modes": #{j : h_j > 0}, "kl": KL(h / sum(h) || uniform)}`` (int, float) of counts ``(K,)``."""
    histogram = np.asarray(histogram)
    return {"modes": int(np.count_nonzero(histogram)), "kl": float(kl_to_uniform(jnp.asarray(histogram)))}


def stacked_mode_scores(images, classify_fn: Callable, batch_size: int = 2000) -> dict:
    """Modes captured and KL to uniform of stacked-digit images ``(N, H, W, 3)``:
    :func:`scores_of_histogram` of :func:`stacked_mode_histogram` (same arguments).

    Returns:
      ``{"modes": #{j : h_j > 0}, "kl": KL(h / N || uniform over 1,000)}`` (int, float).
    """
    return scores_of_histogram(stacked_mode_histogram(images, classify_fn, batch_size))
