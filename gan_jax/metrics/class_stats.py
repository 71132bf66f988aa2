"""Inception-score-style class statistics from a classifier's probabilities.

Salimans et al. 2016, "Improved techniques for training GANs", section 4
(IS = exp E_x KL(p(y|x) || p(y))); the class histogram and its KL to the
uniform law expose dropped classes (mode collapse) directly.
"""

import jax
import jax.numpy as jnp

__all__ = ["class_statistics"]


def _kl(p: jax.Array, q: jax.Array) -> jax.Array:
    """KL(p || q) = sum p log(p / q) along the last axis, with 0 log 0 = 0."""
    return jnp.sum(jnp.where(p > 0, p * (jnp.log(jnp.where(p > 0, p, 1.0)) - jnp.log(q)), 0.0), axis=-1)


def class_statistics(probs: jax.Array) -> dict:
    """Statistics of class probabilities ``(N, C)`` (rows sum to 1).

    - ``histogram`` ``(C,)``: fraction of samples whose argmax is each class;
    - ``kl_to_uniform``: KL(histogram || 1/C), 0 for balanced classes, log C when all in one;
    - ``confidence``: mean max_y p(y|x);
    - ``inception_score``: exp mean_x KL(p(y|x) || p(y)), p(y) = mean_x p(y|x), in [1, C].
    """
    num_classes = probs.shape[1]
    histogram = jnp.bincount(jnp.argmax(probs, axis=1), length=num_classes) / probs.shape[0]
    marginal = jnp.mean(probs, axis=0)
    return {
        "histogram": histogram,
        "kl_to_uniform": _kl(histogram, jnp.full((num_classes,), 1.0 / num_classes)),
        "confidence": jnp.mean(jnp.max(probs, axis=1)),
        "inception_score": jnp.exp(jnp.mean(_kl(probs, marginal[None, :]))),
    }
