"""Inception v3 as FID defines it: a Flax port of pytorch-fid's ``FIDInceptionV3``.

FID (Heusel et al. 2017) uses the 2015-12-05 TensorFlow Inception graph;
pytorch-fid (github.com/mseitzer/pytorch-fid, ``src/pytorch_fid/inception.py``)
ports it onto torchvision's Inception v3 (Szegedy et al. 2016, "Rethinking
the Inception architecture") with the graph's quirks patched in:

- Mixed_5b-d (A), 6b-e (C), 7b (E_1): the pool branch averages over a 3x3
  window *without* counting the zero padding (TensorFlow's avg pool);
- Mixed_7c (E_2): the pool branch is a 3x3 *max* pool;
- every conv is conv (no bias) -> batch norm (eps 1e-3, running stats) -> ReLU.

Input: images ``(N, H, W, 3)`` in [-1, 1], resized to 299x299 bilinearly
with half-pixel centres and no antialiasing (``F.interpolate(...,
mode="bilinear", align_corners=False)``, which pytorch-fid applies to [0, 1]
images before ``2x - 1``; the resize is affine-equivariant, so resizing
the [-1, 1] image gives the same values). Output: the 2048-d global
average pool features. Parameter names follow the PyTorch state dict, so
:mod:`gan_jax.features.inception_convert` maps one onto the other by name.
"""

from typing import Sequence, Tuple

import flax.linen as nn
import jax
import jax.numpy as jnp

__all__ = ["EXTRACTOR_NAME", "INPUT_SIZE", "FEATURE_DIM", "FIDInceptionV3", "resize_for_inception",
           "inception_features"]

#: The extractor name stored with FID statistics of the Inception port (pytorch-fid's weights of 2015-12-05).
EXTRACTOR_NAME = "inception_fid_2015_12_05"
#: The Inception's input side (images are resized to 299 x 299) and its feature dimension (2048).
INPUT_SIZE, FEATURE_DIM = 299, 2048


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm(eps=1e-3, running averages) -> ReLU."""
    features: int
    kernel: Tuple[int, int]
    strides: Tuple[int, int] = (1, 1)
    padding: Tuple[int, int] = (0, 0)

    @nn.compact
    def __call__(self, x):
        ph, pw = self.padding
        x = nn.Conv(self.features, self.kernel, self.strides, padding=((ph, ph), (pw, pw)),
                    use_bias=False, name="conv")(x)
        x = nn.BatchNorm(use_running_average=True, epsilon=1e-3, name="bn")(x)
        return nn.relu(x)


def _avg_pool_tf(x):
    """3x3 stride-1 average pool that ignores the zero padding (TensorFlow's)."""
    return nn.avg_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)), count_include_pad=False)


def _max_pool_3s2(x):
    return nn.max_pool(x, (3, 3), (2, 2), padding="VALID")


class InceptionA(nn.Module):
    """Mixed_5b-d (FID variant: padding-excluding average pool)."""
    pool_features: int

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(64, (1, 1), name="branch1x1")(x)
        b5 = BasicConv2d(48, (1, 1), name="branch5x5_1")(x)
        b5 = BasicConv2d(64, (5, 5), padding=(2, 2), name="branch5x5_2")(b5)
        b3 = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(b3)
        b3 = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_3")(b3)
        bp = BasicConv2d(self.pool_features, (1, 1), name="branch_pool")(_avg_pool_tf(x))
        return jnp.concatenate([b1, b5, b3, bp], axis=-1)


class InceptionB(nn.Module):
    """Mixed_6a: grid reduction 35 -> 17."""

    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(384, (3, 3), strides=(2, 2), name="branch3x3")(x)
        bd = BasicConv2d(64, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv2d(96, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = BasicConv2d(96, (3, 3), strides=(2, 2), name="branch3x3dbl_3")(bd)
        return jnp.concatenate([b3, bd, _max_pool_3s2(x)], axis=-1)


class InceptionC(nn.Module):
    """Mixed_6b-e (FID variant: padding-excluding average pool), factorised 7x7."""
    channels_7x7: int

    @nn.compact
    def __call__(self, x):
        c7 = self.channels_7x7
        b1 = BasicConv2d(192, (1, 1), name="branch1x1")(x)
        b7 = BasicConv2d(c7, (1, 1), name="branch7x7_1")(x)
        b7 = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7_3")(b7)
        bd = BasicConv2d(c7, (1, 1), name="branch7x7dbl_1")(x)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_2")(bd)
        bd = BasicConv2d(c7, (1, 7), padding=(0, 3), name="branch7x7dbl_3")(bd)
        bd = BasicConv2d(c7, (7, 1), padding=(3, 0), name="branch7x7dbl_4")(bd)
        bd = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7dbl_5")(bd)
        bp = BasicConv2d(192, (1, 1), name="branch_pool")(_avg_pool_tf(x))
        return jnp.concatenate([b1, b7, bd, bp], axis=-1)


class InceptionD(nn.Module):
    """Mixed_7a: grid reduction 17 -> 8."""

    @nn.compact
    def __call__(self, x):
        b3 = BasicConv2d(192, (1, 1), name="branch3x3_1")(x)
        b3 = BasicConv2d(320, (3, 3), strides=(2, 2), name="branch3x3_2")(b3)
        b7 = BasicConv2d(192, (1, 1), name="branch7x7x3_1")(x)
        b7 = BasicConv2d(192, (1, 7), padding=(0, 3), name="branch7x7x3_2")(b7)
        b7 = BasicConv2d(192, (7, 1), padding=(3, 0), name="branch7x7x3_3")(b7)
        b7 = BasicConv2d(192, (3, 3), strides=(2, 2), name="branch7x7x3_4")(b7)
        return jnp.concatenate([b3, b7, _max_pool_3s2(x)], axis=-1)


class InceptionE(nn.Module):
    """Mixed_7b (average pool without padding) and Mixed_7c (``max_pool=True``)."""
    max_pool: bool = False

    @nn.compact
    def __call__(self, x):
        b1 = BasicConv2d(320, (1, 1), name="branch1x1")(x)
        b3 = BasicConv2d(384, (1, 1), name="branch3x3_1")(x)
        b3 = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3_2a")(b3),
                              BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3_2b")(b3)], axis=-1)
        bd = BasicConv2d(448, (1, 1), name="branch3x3dbl_1")(x)
        bd = BasicConv2d(384, (3, 3), padding=(1, 1), name="branch3x3dbl_2")(bd)
        bd = jnp.concatenate([BasicConv2d(384, (1, 3), padding=(0, 1), name="branch3x3dbl_3a")(bd),
                              BasicConv2d(384, (3, 1), padding=(1, 0), name="branch3x3dbl_3b")(bd)], axis=-1)
        if self.max_pool:
            # The FID graph's quirk: max, not average, in the last block.
            pooled = nn.max_pool(x, (3, 3), (1, 1), padding=((1, 1), (1, 1)))
        else:
            pooled = _avg_pool_tf(x)
        bp = BasicConv2d(192, (1, 1), name="branch_pool")(pooled)
        return jnp.concatenate([b1, b3, bd, bp], axis=-1)


class FIDInceptionV3(nn.Module):
    """The FID Inception trunk: ``(N, 299, 299, 3)`` in [-1, 1] -> pool features ``(N, 2048)``."""

    @nn.compact
    def __call__(self, x):
        x = BasicConv2d(32, (3, 3), strides=(2, 2), name="Conv2d_1a_3x3")(x)
        x = BasicConv2d(32, (3, 3), name="Conv2d_2a_3x3")(x)
        x = BasicConv2d(64, (3, 3), padding=(1, 1), name="Conv2d_2b_3x3")(x)
        x = _max_pool_3s2(x)
        x = BasicConv2d(80, (1, 1), name="Conv2d_3b_1x1")(x)
        x = BasicConv2d(192, (3, 3), name="Conv2d_4a_3x3")(x)
        x = _max_pool_3s2(x)
        x = InceptionA(32, name="Mixed_5b")(x)
        x = InceptionA(64, name="Mixed_5c")(x)
        x = InceptionA(64, name="Mixed_5d")(x)
        x = InceptionB(name="Mixed_6a")(x)
        for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
            x = InceptionC(c7, name=name)(x)
        x = InceptionD(name="Mixed_7a")(x)
        x = InceptionE(name="Mixed_7b")(x)
        x = InceptionE(max_pool=True, name="Mixed_7c")(x)
        return jnp.mean(x, axis=(1, 2))


def resize_for_inception(images: jax.Array, size: Sequence[int] = (INPUT_SIZE, INPUT_SIZE)) -> jax.Array:
    """Bilinear resize ``(N, H, W, C)`` -> ``(N, 299, 299, 3)``, half-pixel centres, no antialias.

    Grey images (C = 1) are repeated to three channels first.
    """
    if images.shape[-1] == 1:
        images = jnp.repeat(images, 3, axis=-1)
    shape = (images.shape[0], *size, images.shape[-1])
    return jax.image.resize(images, shape, method="bilinear", antialias=False)


def inception_features(variables, images: jax.Array) -> jax.Array:
    """2048-d FID features of images ``(N, H, W, 1 or 3)`` in [-1, 1]; ``variables`` = {params, batch_stats}."""
    return FIDInceptionV3().apply(variables, resize_for_inception(images))
