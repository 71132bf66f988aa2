"""Class-conditional wrappers around the MLP and DCGAN generators and discriminators.

The generator sees the label concatenated to z (Mirza & Osindero 2014,
"Conditional generative adversarial nets"); the discriminator gets it as
extra input channels (concat), through a projection (Miyato & Koyama 2018,
"cGANs with projection discriminator"), or predicts it with an auxiliary
head (Odena et al. 2017, "Conditional image synthesis with auxiliary
classifier GANs"). All follow the calling convention of
:mod:`gan_jax.models` with ``labels=`` int ``(B,)``.
"""

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

__all__ = [
    "LABEL_EMBEDDINGS", "D_CONDITIONINGS", "ConditionalGenerator",
    "ConditionalDiscriminator", "check_labels",
]

#: How the conditional generator takes its label: a one-hot vector or a learned embedding.
LABEL_EMBEDDINGS = ("onehot", "embed")
#: How the conditional discriminator takes the label: concatenated, by projection, or as an auxiliary classifier.
D_CONDITIONINGS = ("concat", "projection", "acgan")


def check_labels(labels, num_classes: int):
    """Raise ValueError unless the concrete ``labels`` are ints in [0, num_classes).

    Called at the boundary (sampling, the CLI), where a traced check is impossible.
    """
    labels = np.asarray(labels)
    if num_classes <= 0:
        raise ValueError("this model is unconditional; drop the labels (train a conditional config "
                        "such as digits_cgan to choose classes)")
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D array of ints, got shape {labels.shape} dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"label {int(labels.max() if labels.max() >= num_classes else labels.min())} is "
                        f"outside the model's classes 0..{num_classes - 1}")


def _axis(axis_name):
    """The base model's batch-norm axis argument, passed only when set (any base works without it)."""
    return {} if axis_name is None else {"axis_name": axis_name}


class ConditionalGenerator(nn.Module):
    """G(z, y): ``(B, latent_dim), (B,) -> (B, *data_shape)``.

    ``base`` (an unconditional generator) is applied to [z, e(y)] where e(y)
    is the one-hot vector (``label_embedding="onehot"``) or a learned
    ``embed_dim``-vector (``"embed"``); the base's first Dense layer sizes
    itself to the longer input.
    """
    base: nn.Module
    num_classes: int
    label_embedding: str = "onehot"
    embed_dim: int = 16

    @nn.compact
    def __call__(self, z, train: bool = True, labels=None, axis_name: Optional[str] = None):
        if self.label_embedding == "onehot":
            e = jax.nn.one_hot(labels, self.num_classes, dtype=z.dtype)
        else:
            e = nn.Embed(self.num_classes, self.embed_dim, name="label_embed")(labels).astype(z.dtype)
        return self.base(jnp.concatenate([z, e], axis=-1), train=train, **_axis(axis_name))


class ConditionalDiscriminator(nn.Module):
    """D(x, y) around an unconditional ``base`` discriminator.

    - ``"concat"``: the one-hot label is appended to x as K constant extra
      channels for images ``(B, H, W, C)`` (or K extra features for flat
      data); returns logits ``(B,)``.
    - ``"projection"``: logits = psi(phi(x)) + e(y) . phi(x), phi the base's
      last features and e a learned class embedding (Miyato & Koyama 2018,
      eq. 3); returns ``(B,)``.
    - ``"acgan"``: ignores y and returns ``(logits (B,), class_logits (B, K))``
      with a linear class head on phi(x) (Odena et al. 2017).

    ``return_features=True`` also returns phi(x) ``(B, F)``.
    """
    base: nn.Module
    num_classes: int
    conditioning: str = "concat"

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False, labels=None,
                 axis_name: Optional[str] = None):
        if self.conditioning == "concat":
            onehot = jax.nn.one_hot(labels, self.num_classes, dtype=x.dtype)
            if x.ndim == 4:
                extra = jnp.broadcast_to(onehot[:, None, None, :], x.shape[:3] + (self.num_classes,))
                x = jnp.concatenate([x, extra], axis=-1)
            else:
                x = jnp.concatenate([x.reshape((x.shape[0], -1)), onehot], axis=-1)
            return self.base(x, train=train, return_features=return_features, **_axis(axis_name))
        logits, feat = self.base(x, train=train, return_features=True, **_axis(axis_name))
        if self.conditioning == "projection":
            e = nn.Embed(self.num_classes, feat.shape[-1], name="class_projection")(labels)
            logits = logits + jnp.sum(e * feat, axis=-1)
        elif self.conditioning == "acgan":
            logits = (logits, nn.Dense(self.num_classes, name="class_head")(feat))
        else:
            raise ValueError(f"unknown conditioning {self.conditioning!r}; expected one of {D_CONDITIONINGS}")
        return (logits, feat) if return_features else logits
