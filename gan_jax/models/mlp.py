"""Fully connected generator and discriminator for 1-D/2-D toys and flat images."""

import math
from typing import Optional, Sequence, Tuple

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models.layers import Normalization

__all__ = ["MLPGenerator", "MLPDiscriminator"]

DEFAULT_INIT = ("lecun", 1.0)


def _kernel_init(init: Tuple[str, float]):
    """``("lecun", _)``: Flax's default LeCun normal; ``("orthogonal", gain)``: a random
    orthogonal matrix times ``gain`` (Saxe et al. 2014; the unrolled GAN notebook uses 1.4)."""
    name, gain = init
    if name == "orthogonal":
        return nn.initializers.orthogonal(scale=gain)
    if name == "lecun":
        return nn.initializers.lecun_normal()
    raise ValueError(f"unknown MLP init {name!r}; expected lecun or orthogonal")


class MLPGenerator(nn.Module):
    """G(z): ``(B, latent_dim) -> (B, *data_shape)``.

    ``depth`` hidden Dense layers of ``hidden`` units with ReLU, then a Dense
    output reshaped to ``data_shape``; ``output_activation`` is ``"tanh"`` for
    images in [-1, 1] or ``"linear"`` for unbounded toy data. ``norm``
    (``"batch"``, ``"layer"`` or ``"none"``) normalises each hidden layer
    before its ReLU, and then the layer has no bias (the normalisation's
    shift replaces it), as in PacGAN's 2-D generator. ``activation="tanh"``
    uses tanh instead of ReLU, ``weight_init`` = ``(name, gain)`` picks the kernels'
    initialiser (see ``_kernel_init``).
    """
    data_shape: Sequence[int]
    hidden: int = 128
    depth: int = 2
    output_activation: str = "linear"
    norm: str = "none"
    activation: str = "relu"
    weight_init: Tuple[str, float] = DEFAULT_INIT

    @nn.compact
    def __call__(self, z, train: bool = True, axis_name: Optional[str] = None):
        h = z
        act = jnp.tanh if self.activation == "tanh" else nn.relu
        kernel_init = _kernel_init(self.weight_init)
        for i in range(self.depth):
            h = nn.Dense(self.hidden, use_bias=self.norm == "none", kernel_init=kernel_init, name=f"hidden_{i}")(h)
            h = act(Normalization(self.norm, name=f"norm_{i}")(h, train, axis_name))
        x = nn.Dense(math.prod(self.data_shape), kernel_init=kernel_init, name="output")(h)
        if self.output_activation == "tanh":
            x = jnp.tanh(x)
        return x.reshape((z.shape[0],) + tuple(self.data_shape))


class MLPDiscriminator(nn.Module):
    """D(x): ``(B, ...) -> (B,)`` logits; the input is flattened.

    ``depth`` hidden Dense layers of ``hidden`` units with LeakyReLU(0.2)
    (``activation="tanh"``: tanh); ``weight_init`` as in :class:`MLPGenerator`.
    With ``return_features=True`` also returns the last hidden activations
    ``(B, hidden)`` (used by feature matching).
    """
    hidden: int = 128
    depth: int = 2
    activation: str = "relu"
    weight_init: Tuple[str, float] = DEFAULT_INIT

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False, axis_name: Optional[str] = None):
        h = x.reshape((x.shape[0], -1))
        kernel_init = _kernel_init(self.weight_init)
        for i in range(self.depth):
            h = nn.Dense(self.hidden, kernel_init=kernel_init, name=f"hidden_{i}")(h)
            h = jnp.tanh(h) if self.activation == "tanh" else nn.leaky_relu(h, 0.2)
        logits = nn.Dense(1, kernel_init=kernel_init, name="output")(h)[:, 0]
        return (logits, h) if return_features else logits
