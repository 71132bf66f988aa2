"""DCGAN generator and discriminator (Radford et al. 2016) for 8, 28, 32 and
64 pixel images with 1 or 3 channels.

The DCGAN rules, which ``tests/test_models.py`` checks on the parameter tree:
no pooling (resolution changes only through strided convolutions), no fully
connected hidden layers (the latent vector is a 1x1 image that a transposed
convolution projects to the first feature map), normalisation after every
layer except the generator's output and the discriminator's input, ReLU in
G with tanh at its output, LeakyReLU(0.2) in D.

Resolutions: the base size s0 is 2 for 8-pixel images, 7 for 28, 4 for 32
and 64; the generator doubles s0 up to the image size and the discriminator
halves back to s0, then a convolution with an s0 x s0 kernel gives one logit.
"""

from typing import Optional

import flax.linen as nn
import jax.numpy as jnp

from gan_jax.models.layers import DownConv, FullConv, Normalization, Project, UpConv

__all__ = ["DCGANGenerator", "DCGANDiscriminator", "base_size", "SUPPORTED_SIZES"]

#: The image sides the DCGAN models are built for.
SUPPORTED_SIZES = (8, 28, 32, 64)


def base_size(image_size: int) -> int:
    """Side of the first generator feature map; ``image_size / base_size`` is a power of 2."""
    sizes = {8: 2, 28: 7, 32: 4, 64: 4}
    if image_size not in sizes:
        raise ValueError(f"DCGAN supports image sizes {SUPPORTED_SIZES}, got {image_size}")
    return sizes[image_size]


def _num_doublings(image_size: int) -> int:
    return (image_size // base_size(image_size)).bit_length() - 1


class DCGANGenerator(nn.Module):
    """G(z): ``(B, latent_dim) -> (B, image_size, image_size, channels)`` in [-1, 1].

    Widths: ``width * 2**(n-1)`` at the base size, halving at every doubling,
    where n is the number of doublings (``width`` is ngf).
    """
    image_size: int = 64
    channels: int = 3
    width: int = 64
    norm: str = "batch"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z, train: bool = True, axis_name: Optional[str] = None):
        s0 = base_size(self.image_size)
        n = _num_doublings(self.image_size)
        h = Project(self.width * 2 ** (n - 1), s0, dtype=self.dtype, name="project")(z)
        h = nn.relu(Normalization(self.norm, name="project_norm")(h, train, axis_name))
        for i in range(n - 1):
            h = UpConv(self.width * 2 ** (n - 2 - i), dtype=self.dtype, name=f"up_{i}")(h)
            h = nn.relu(Normalization(self.norm, name=f"up_{i}_norm")(h, train, axis_name))
        h = UpConv(self.channels, use_bias=True, dtype=self.dtype, name="output")(h)
        return jnp.tanh(h).astype(jnp.float32)


class DCGANDiscriminator(nn.Module):
    """D(x): ``(B, image_size, image_size, channels) -> (B,)`` logits.

    Widths: ``width`` after the first (unnormalised) convolution, doubling at
    every halving (``width`` is ndf). With ``return_features=True`` also
    returns the last feature map flattened, ``(B, s0 * s0 * width * 2**(n-1))``.
    """
    image_size: int = 64
    width: int = 64
    norm: str = "batch"
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False, axis_name: Optional[str] = None):
        n = _num_doublings(self.image_size)
        h = nn.leaky_relu(DownConv(self.width, dtype=self.dtype, name="input")(x.astype(self.dtype)), 0.2)
        for i in range(1, n):
            h = DownConv(self.width * 2 ** i, dtype=self.dtype, name=f"down_{i}")(h)
            h = nn.leaky_relu(Normalization(self.norm, name=f"down_{i}_norm")(h, train, axis_name), 0.2)
        logits = FullConv(1, dtype=self.dtype, name="output")(h)
        logits = logits.reshape((x.shape[0],)).astype(jnp.float32)
        if return_features:
            return logits, h.reshape((x.shape[0], -1)).astype(jnp.float32)
        return logits
