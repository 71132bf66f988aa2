"""Fully connected generator and discriminator for 1-D/2-D toys and flat images."""

import math
from typing import Sequence

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models.layers import Normalization

__all__ = ["MLPGenerator", "MLPDiscriminator"]


class MLPGenerator(nn.Module):
    """G(z): ``(B, latent_dim) -> (B, *data_shape)``.

    ``depth`` hidden Dense layers of ``hidden`` units with ReLU, then a Dense
    output reshaped to ``data_shape``; ``output_activation`` is ``"tanh"`` for
    images in [-1, 1] or ``"linear"`` for unbounded toy data. ``norm``
    (``"batch"``, ``"layer"`` or ``"none"``) normalises each hidden layer
    before its ReLU, and then the layer has no bias (the normalisation's
    shift replaces it), as in PacGAN's 2-D generator.
    """
    data_shape: Sequence[int]
    hidden: int = 128
    depth: int = 2
    output_activation: str = "linear"
    norm: str = "none"

    @nn.compact
    def __call__(self, z, train: bool = True):
        h = z
        for i in range(self.depth):
            h = nn.Dense(self.hidden, use_bias=self.norm == "none", name=f"hidden_{i}")(h)
            h = nn.relu(Normalization(self.norm, name=f"norm_{i}")(h, train))
        x = nn.Dense(math.prod(self.data_shape), name="output")(h)
        if self.output_activation == "tanh":
            x = jnp.tanh(x)
        return x.reshape((z.shape[0],) + tuple(self.data_shape))


class MLPDiscriminator(nn.Module):
    """D(x): ``(B, ...) -> (B,)`` logits; the input is flattened.

    ``depth`` hidden Dense layers of ``hidden`` units with LeakyReLU(0.2).
    With ``return_features=True`` also returns the last hidden activations
    ``(B, hidden)`` (used by feature matching).
    """
    hidden: int = 128
    depth: int = 2

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False):
        h = x.reshape((x.shape[0], -1))
        for i in range(self.depth):
            h = nn.leaky_relu(nn.Dense(self.hidden, name=f"hidden_{i}")(h), 0.2)
        logits = nn.Dense(1, name="output")(h)[:, 0]
        return (logits, h) if return_features else logits
