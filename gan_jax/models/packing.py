"""Packing (PacGAN, Lin, Khetan, Fanti & Oh 2018): the discriminator judges
m samples at once.

A packed discriminator D_m sees m samples that are either all real or all
generated, concatenated along the feature axis, and returns one logit per
pack. A generator that covers only some modes yields packs whose members are
too alike, which D_m can detect; PacGAN shows that packing penalises mode
collapse and is strong on the 2-D ring and grid benchmarks (their Table 1).
Every loss in :mod:`gan_jax.core.losses` is a mean over logits, so the losses are
unchanged: they average over the B/m packs instead of the B samples.
"""

from typing import Optional

import flax.linen as nn
import jax.numpy as jnp

__all__ = ["PackedDiscriminator", "pack_samples"]


def pack_samples(x: jnp.ndarray, pack: int) -> jnp.ndarray:
    """Group consecutive samples into packs, concatenated along the last axis.

    ``(B, ..., C) -> (B/m, ..., m*C)``: pack i holds samples i*m .. i*m+m-1,
    and feature ``j*C + c`` of a pack is feature c of its j-th member. For
    vectors ``(B, d)`` this is ``(B/m, m*d)``; for images ``(B, H, W, C)`` the
    channels are stacked, ``(B/m, H, W, m*C)``. B must be a multiple of m.
    """
    b = x.shape[0]
    if b % pack:
        raise ValueError(f"a batch of {b} samples does not split into packs of {pack}; "
                         f"use a batch size divisible by {pack}")
    grouped = x.reshape((b // pack, pack) + x.shape[1:])          # (B/m, m, ..., C)
    grouped = jnp.moveaxis(grouped, 1, -2)                          # (B/m, ..., m, C)
    return grouped.reshape(grouped.shape[:-2] + (pack * x.shape[-1],))


class PackedDiscriminator(nn.Module):
    """D_m(x_1, ..., x_m) = base(concat(x_1, ..., x_m)): ``(B, ...) -> (B/m,)`` logits.

    ``base`` is any unconditional discriminator (its input layer sees m times
    the features). ``return_features=True`` returns ``(logits, features)``
    per pack, as the base does.
    """
    base: nn.Module
    pack: int = 2

    def __call__(self, x, train: bool = True, return_features: bool = False, axis_name: Optional[str] = None):
        axis = {} if axis_name is None else {"axis_name": axis_name}
        return self.base(pack_samples(x, self.pack), train=train, return_features=return_features, **axis)
