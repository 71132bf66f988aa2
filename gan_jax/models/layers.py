"""Layers shared by the model families: normalisation choice and the
resolution-doubling convolutions of DCGAN.

Padding follows the reference DCGAN (PyTorch ``kernel=4, stride=2,
padding=1``): a down-convolution halves the height and width exactly and an
up-convolution doubles them exactly.

The up-convolution is computed as four 2x2 convolutions, one per output
phase, interleaved (the sub-pixel decomposition of Shi et al. 2016, "Is the
deconvolution layer the same as a convolutional layer?"): it is the same
linear map as ``lax.conv_transpose`` with the same kernel, and XLA's CPU
backend runs its backward pass several times faster than the backward pass of
the transposed convolution (measured in ``benchmarks/step_time.py``).

The two layers whose kernel covers the whole feature map, the generator's
projection of the 1x1 latent to the first feature map and the
discriminator's final logit, are matrix products (:class:`Project`,
:class:`FullConv`): the same linear maps and parameters as flax's
``ConvTranspose``/``Conv`` with ``padding="VALID"``, which XLA:CPU ran
as slow general convolutions (the projection alone took a fifth of a 28x28
DCGAN step).
"""

from typing import Optional

import flax.linen as nn
import jax.numpy as jnp
from jax import lax

__all__ = ["NORMS", "Normalization", "DownConv", "UpConv", "Project", "FullConv",
           "conv_transpose_4x4_s2", "subpixel_conv_transpose", "project_matmul", "full_conv_matmul"]

# Below this many output channels (the image layer: 1 or 3) XLA's plain
# transposed convolution is the faster of the two on CPU, measured.
_SUBPIXEL_MIN_FEATURES = 16

#: The normalisations a model may use (``norm=``).
NORMS = ("batch", "layer", "none")


class Normalization(nn.Module):
    """Batch norm, layer norm (over H, W, C) or identity, chosen by name.

    Input ``(B, ..., C)``; output the same shape.
    """
    kind: str = "batch"

    @nn.compact
    def __call__(self, x, train: bool, axis_name: Optional[str] = None):
        if self.kind == "batch":   # axis_name: average the batch statistics over that mesh axis
            return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                                epsilon=1e-5, axis_name=axis_name, name="batch_norm")(x)
        if self.kind == "layer":
            return nn.LayerNorm(reduction_axes=tuple(range(1, x.ndim)),
                                name="layer_norm")(x)
        if self.kind == "none":
            return x
        raise ValueError(f"unknown norm {self.kind!r}; expected one of {NORMS}")


def _kernel(module: nn.Module, shape, dtype):
    """A ``shape`` float32 ``kernel`` parameter (LeCun-normal at init, as flax's
    ``Conv``/``ConvTranspose``) cast to the compute dtype: parameters stay
    float32 under mixed precision."""
    kernel = module.param("kernel", nn.initializers.lecun_normal(), tuple(shape), jnp.float32)
    return kernel.astype(dtype)


def _add_bias(module: nn.Module, y, features: int, dtype):
    """``y + bias``, with a ``(features,)`` float32 ``bias`` parameter (zeros at
    init, as flax's ``Conv``/``ConvTranspose``) cast to the compute dtype."""
    bias = module.param("bias", nn.initializers.zeros_init(), (features,), jnp.float32)
    return y + bias.astype(dtype)


class DownConv(nn.Module):
    """4x4 convolution with stride 2 and padding 1: ``(B, H, W, C) -> (B, H/2, W/2, features)``,
    y[p, q] = sum_{i, j} xp[2p + i, 2q + j] K[i, j], xp = x padded by one zero.

    XLA's own convolution: a patch matrix product (im2col) for the thin image
    input ran the layer's weight gradient five times faster alone but left the
    whole training step unchanged (within 1 %, measured), so it was not kept.
    """
    features: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        return nn.Conv(self.features, (4, 4), strides=(2, 2),
                       padding=((1, 1), (1, 1)), use_bias=False,
                       dtype=self.dtype, name="conv")(x)


def conv_transpose_4x4_s2(x, kernel):
    """The 4x4, stride-2 transposed convolution of ``flax.linen.ConvTranspose``
    (``padding=2``, kernel not flipped), the adjoint of a padding-1 convolution.

    ``x (B, H, W, C)``, ``kernel (4, 4, C, F)`` -> ``(B, 2H, 2W, F)``:
    y[o] = sum_k u[o + k - 2] K[k] per spatial axis, u = x dilated by 2
    (zeros between pixels; Dumoulin & Visin 2016, "A guide to convolution
    arithmetic", relationship 14).
    """
    # lax pads the stride-dilated input by k - 1 - p = 2 on each side.
    return lax.conv_transpose(x, kernel, (2, 2), ((2, 2), (2, 2)),
                              dimension_numbers=("NHWC", "HWIO", "NHWC"))


def subpixel_conv_transpose(x, kernel):
    """:func:`conv_transpose_4x4_s2` as four 2x2 convolutions, interleaved.

    ``x (B, H, W, C)``, ``kernel (4, 4, C, F)`` -> ``(B, 2H, 2W, F)``.
    Per spatial axis only every other tap meets a real pixel, so
    y[2p] = x[p-1] K[0] + x[p] K[2] and y[2p+1] = x[p] K[1] + x[p+1] K[3]:
    output phase a in {0, 1} is a 2-tap convolution with taps K[a], K[a+2]
    over x padded by one zero on each side, starting at offset a (Shi et al.
    2016, sub-pixel convolution). Each phase is one matrix product of the
    ``(B, H, W, 4C)`` 2x2 patches with the ``(4C, F)`` phase kernel.
    """
    b, h, w, c = x.shape
    f = kernel.shape[-1]
    xp = jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    rows = []
    for a in (0, 1):
        cols = []
        for bb in (0, 1):
            patches = jnp.stack([xp[:, a + i:a + i + h, bb + j:bb + j + w]
                                 for i in (0, 1) for j in (0, 1)], axis=3)
            phase_kernel = kernel[a::2, bb::2].reshape(4, c, f)
            cols.append(jnp.einsum("bhwtc,tcf->bhwf", patches, phase_kernel))
        rows.append(jnp.stack(cols, axis=3))          # (B, H, W, 2, F): column phase
    return jnp.stack(rows, axis=2).reshape(b, 2 * h, 2 * w, f)   # (B, H, 2, W, 2, F)


class _ConvTranspose4x4S2(nn.Module):
    """Parameters exactly as ``nn.ConvTranspose(features, (4, 4))`` (``kernel
    (4, 4, C, F)`` LeCun-normal, ``bias (F,)`` zeros), so checkpoints of either match."""
    features: int
    use_bias: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        kernel = _kernel(self, (4, 4, x.shape[-1], self.features), self.dtype)
        x = x.astype(self.dtype)
        if self.features >= _SUBPIXEL_MIN_FEATURES:
            y = subpixel_conv_transpose(x, kernel)
        else:
            y = conv_transpose_4x4_s2(x, kernel)
        if self.use_bias:
            y = _add_bias(self, y, self.features, self.dtype)
        return y


class UpConv(nn.Module):
    """4x4 transposed convolution with stride 2, the adjoint of a padding-1
    convolution: ``(B, H, W, C) -> (B, 2H, 2W, features)``; computed by
    :func:`subpixel_conv_transpose` (identical to ``nn.ConvTranspose`` with
    ``padding=2``, same parameter names and shapes)."""
    features: int
    use_bias: bool = False
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        return _ConvTranspose4x4S2(self.features, self.use_bias, self.dtype,
                                   name="conv_transpose")(x)


def project_matmul(z, kernel):
    """flax's ``ConvTranspose`` with padding ``"VALID"`` on a 1x1 input, as one matmul.

    ``z (B, C)``, ``kernel (s, s, C, F)`` -> ``(B, s, s, F)``:
    y[b, i, j, f] = sum_c z[b, c] K[s-1-i, s-1-j, c, f]. The kernel is
    rotated by 180 degrees because ``lax.conv_transpose`` (kernel not
    transposed) correlates it with the input padded by s - 1, so the one
    input pixel meets tap s-1-i at output row i.
    """
    s, t, c, f = kernel.shape
    rotated = kernel[::-1, ::-1].transpose(2, 0, 1, 3).reshape(c, s * t * f)  # (C, s*s*F)
    return (z @ rotated).reshape(z.shape[0], s, t, f)


def full_conv_matmul(x, kernel):
    """A ``"VALID"`` convolution whose kernel covers the whole input, as one matmul.

    ``x (B, s, s, C)``, ``kernel (s, s, C, F)`` -> ``(B, F)``:
    y[b, f] = sum_{i, j, c} x[b, i, j, c] K[i, j, c, f].
    """
    return x.reshape(x.shape[0], -1) @ kernel.reshape(-1, kernel.shape[-1])


class Project(nn.Module):
    """The latent ``(B, C)`` (or ``(B, 1, 1, C)``) to the first feature map ``(B, size, size, features)``.

    Parameters exactly as ``nn.ConvTranspose(features, (size, size),
    padding="VALID", use_bias=False)`` (``kernel (size, size, C, features)``,
    LeCun-normal), computed by :func:`project_matmul`.
    """
    features: int
    size: int
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, z):
        z = z.reshape((z.shape[0], -1))
        kernel = _kernel(self, (self.size, self.size, z.shape[-1], self.features), self.dtype)
        return project_matmul(z.astype(self.dtype), kernel)


class FullConv(nn.Module):
    """``(B, H, W, C) -> (B, 1, 1, features)``: a convolution whose ``(H, W)`` kernel covers the input.

    Parameters exactly as ``nn.Conv(features, (H, W), padding="VALID")``
    (``kernel (H, W, C, features)`` LeCun-normal, ``bias (features,)``
    zeros), computed by :func:`full_conv_matmul`.
    """
    features: int
    use_bias: bool = True
    dtype: jnp.dtype = jnp.float32

    @nn.compact
    def __call__(self, x):
        kernel = _kernel(self, x.shape[1:] + (self.features,), self.dtype)
        y = full_conv_matmul(x.astype(self.dtype), kernel)
        if self.use_bias:
            y = _add_bias(self, y, self.features, self.dtype)
        return y.reshape(x.shape[0], 1, 1, self.features)
