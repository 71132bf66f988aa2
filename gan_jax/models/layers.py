"""Layers shared by the model families: normalisation choice and the
resolution-doubling convolutions of DCGAN.

Padding follows the reference DCGAN (PyTorch ``kernel=4, stride=2,
padding=1``): a down-convolution halves the height and width exactly and an
up-convolution doubles them exactly.
"""

import flax.linen as nn
import jax.numpy as jnp

__all__ = ["NORMS", "Normalization", "DownConv", "UpConv"]

NORMS = ("batch", "layer", "none")


class Normalization(nn.Module):
    """Batch norm, layer norm (over H, W, C) or identity, chosen by name.

    Input ``(B, ..., C)``; output the same shape.
    """
    kind: str = "batch"

    @nn.compact
    def __call__(self, x, train: bool):
        if self.kind == "batch":
            return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                                epsilon=1e-5, name="batch_norm")(x)
        if self.kind == "layer":
            return nn.LayerNorm(reduction_axes=tuple(range(1, x.ndim)),
                                name="layer_norm")(x)
        if self.kind == "none":
            return x
        raise ValueError(f"unknown norm {self.kind!r}; expected one of {NORMS}")


class DownConv(nn.Module):
    """4x4 convolution with stride 2 and padding 1: ``(B, H, W, C) -> (B, H/2, W/2, features)``."""
    features: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        return nn.Conv(self.features, (4, 4), strides=(2, 2),
                       padding=((1, 1), (1, 1)), use_bias=False,
                       dtype=self.dtype, name="conv")(x)


class UpConv(nn.Module):
    """4x4 transposed convolution with stride 2, the adjoint of a padding-1
    convolution: ``(B, H, W, C) -> (B, 2H, 2W, features)``."""
    features: int
    use_bias: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        # lax pads the stride-dilated input by k - 1 - p = 2 on each side.
        return nn.ConvTranspose(self.features, (4, 4), strides=(2, 2),
                                padding=((2, 2), (2, 2)), use_bias=self.use_bias,
                                dtype=self.dtype, name="conv_transpose")(x)
