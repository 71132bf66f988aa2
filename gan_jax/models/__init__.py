"""Pure Flax generators and discriminators.

Every generator is called as ``G.apply(variables, z, train=...)`` and every
discriminator as ``D.apply(variables, x, train=..., return_features=...)``;
conditional models take ``labels=`` as well.
"""

from gan_jax.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gan_jax.models.layers import DownConv, Normalization, UpConv
from gan_jax.models.mlp import MLPDiscriminator, MLPGenerator
from gan_jax.models.packing import PackedDiscriminator, pack_samples

__all__ = [
    "DCGANGenerator", "DCGANDiscriminator", "MLPGenerator", "MLPDiscriminator",
    "Normalization", "DownConv", "UpConv", "PackedDiscriminator", "pack_samples",
]
