"""The train state: one immutable pytree, and how its networks are applied.

``GANState`` holds both players' parameters, batch statistics and optimiser
states and the step count (pytree leaves), and the two Flax modules, the two
optax transformations, the :class:`~gan_jax.core.objective.GANObjective` and
the latent distribution (static fields, part of the pytree's structure). The
steps that transform it are in :mod:`gan_jax.core.steps`.

A :class:`Batch` is what every step consumes: images (or toy vectors) and,
for conditional models, their labels.
"""

import functools
from typing import Any, NamedTuple, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from gan_jax.core.objective import GANObjective

__all__ = ["Batch", "GANState", "create_state", "sample_latent", "apply_generator", "apply_discriminator",
           "init_generator_average", "update_generator_average", "averaged_generator",
           "recalibrate_average_statistics"]

Params = Any


class Batch(NamedTuple):
    """One batch of real data, the input of every step (a pytree).

    Attributes:
      image: ``(B, H, W, C)`` float32 images in [-1, 1], or ``(B, dim)`` toy
        samples; ``train_step`` takes ``(k, B, ...)``, one batch per
        discriminator step.
      label: ``(B,)`` (``train_step``: ``(k, B)``) int32 class labels for
        conditional models, else None.
    """
    image: jax.Array
    label: Optional[jax.Array] = None


class GANState(struct.PyTreeNode):
    """Generator and discriminator parameters, batch statistics, optimiser states and step.

    ``g_batch_stats``/``d_batch_stats`` are empty dicts for models without
    batch norm. ``latent_dim`` and ``latent_dist`` say how z is drawn.

    ``g_average`` is the exponential moving average of the generator,
    ``{"params": ..., "batch_stats": ...}``, updated by every generator step as
    a <- decay a + (1 - decay) theta with ``decay = g_average_decay``; it is
    None (no leaves, nothing computed) when ``g_average_decay`` is 0.
    """
    step: jax.Array
    g_params: Params
    d_params: Params
    g_batch_stats: Params
    d_batch_stats: Params
    g_opt_state: optax.OptState
    d_opt_state: optax.OptState
    generator: nn.Module = struct.field(pytree_node=False)
    discriminator: nn.Module = struct.field(pytree_node=False)
    g_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    d_tx: optax.GradientTransformation = struct.field(pytree_node=False)
    objective: GANObjective = struct.field(pytree_node=False, default=GANObjective())
    latent_dim: int = struct.field(pytree_node=False, default=100)
    latent_dist: str = struct.field(pytree_node=False, default="normal")
    g_average_decay: float = struct.field(pytree_node=False, default=0.0)
    g_average: Optional[Params] = None


def sample_latent(key: jax.Array, n: int, latent_dim: int, dist: str = "normal") -> jax.Array:
    """z ~ N(0, I) (``"normal"``) or U[-1, 1] (``"uniform"``): ``(n, latent_dim)``.

    >>> import jax
    >>> z = sample_latent(jax.random.PRNGKey(0), 5, 3, "uniform")
    >>> z.shape, bool(((z >= -1) & (z <= 1)).all())
    ((5, 3), True)
    """
    if dist == "normal":
        return jax.random.normal(key, (n, latent_dim))
    if dist == "uniform":
        return jax.random.uniform(key, (n, latent_dim), minval=-1.0, maxval=1.0)
    raise ValueError(f"unknown latent_dist {dist!r}; expected 'normal' or 'uniform'")


def create_state(key: jax.Array, generator: nn.Module, discriminator: nn.Module,
                 g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation,
                 *, latent_dim: int, data_shape, objective: GANObjective = GANObjective(),
                 latent_dist: str = "normal", labels: Optional[jax.Array] = None,
                 g_average_decay: float = 0.0) -> GANState:
    """Initialise both networks from ``key`` and attach their optimisers.

    Args:
      key: PRNG key.
      generator, discriminator: Flax modules (see :mod:`gan_jax.models`).
      g_tx, d_tx: optax transformations for G and D.
      latent_dim: size of z.
      data_shape: shape of one real sample, e.g. ``(8, 8, 1)`` or ``(2,)``.
      objective: the losses.
      latent_dist: ``"normal"`` or ``"uniform"``.
      labels: example labels ``(2,)`` for conditional models, else None.
      g_average_decay: decay of the generator's moving average, in [0, 1); 0 keeps none.

    The state starts at step 0 with the shapes the modules infer from ``latent_dim`` and
    ``data_shape``; models without batch norm have empty batch statistics:

    >>> import jax, optax
    >>> from gan_jax.models import MLPDiscriminator, MLPGenerator
    >>> state = create_state(jax.random.PRNGKey(0), MLPGenerator(data_shape=(2,), hidden=8),
    ...                      MLPDiscriminator(hidden=8), optax.sgd(0.1), optax.sgd(0.1),
    ...                      latent_dim=3, data_shape=(2,))
    >>> int(state.step), state.g_params["hidden_0"]["kernel"].shape, state.g_params["output"]["kernel"].shape
    (0, (3, 8), (8, 2))
    >>> state.g_batch_stats, state.g_average
    ({}, None)
    """
    g_key, d_key = jax.random.split(key)
    # A packed discriminator (PacGAN) needs whole packs: init on 2 of them.
    n = 2 * getattr(discriminator, "pack", 1)
    z = jnp.zeros((n, latent_dim), jnp.float32)
    x = jnp.zeros((n,) + tuple(data_shape), jnp.float32)
    cond = {} if labels is None else {"labels": labels}
    g_vars = generator.init(g_key, z, train=False, **cond)
    d_vars = discriminator.init(d_key, x, train=False, **cond)
    state = GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_vars["params"], d_params=d_vars["params"],
        g_batch_stats=g_vars.get("batch_stats", {}), d_batch_stats=d_vars.get("batch_stats", {}),
        g_opt_state=g_tx.init(g_vars["params"]), d_opt_state=d_tx.init(d_vars["params"]),
        generator=generator, discriminator=discriminator, g_tx=g_tx, d_tx=d_tx,
        objective=objective, latent_dim=latent_dim, latent_dist=latent_dist)
    return init_generator_average(state, g_average_decay)


def init_generator_average(state: GANState, decay: float) -> GANState:
    """``state`` with a generator average of ``decay`` that starts at the current generator
    (``decay`` = 0: no average). ValueError unless 0 <= decay < 1."""
    decay = float(decay)
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"the generator average's decay must be in [0, 1), got {decay}; "
                         "0 turns averaging off, 0.999 is a usual value")
    if decay == 0.0:
        return state.replace(g_average_decay=0.0, g_average=None)
    copy = lambda tree: jax.tree.map(jnp.array, tree)  # noqa: E731 (own buffers: the steps donate)
    return state.replace(g_average_decay=decay,
                         g_average={"params": copy(state.g_params), "batch_stats": copy(state.g_batch_stats)})


def update_generator_average(state: GANState, z: Optional[jax.Array] = None, labels=None,
                             axis_name=None) -> GANState:
    """One step of the generator's exponential moving average (unchanged when off).

    The parameters: a_t = decay a_{t-1} + (1 - decay) theta_t (theta_t: the
    generator after its t-th update). The batch-norm statistics are the averaged
    generator's own running statistics: G_{a_t} is applied in train mode to this
    step's latents ``z`` ``(B, latent_dim)`` (and ``labels``), and each layer's
    running mean and variance take one step of its momentum towards the batch's.
    Averaging the raw generator's running statistics instead would pair the
    average's parameters with statistics measured on other parameters; at the
    end of an oscillating training that pairing can lose modes the averaged
    parameters still cover. ``z`` may be None only for a generator without
    batch norm. ``axis_name``: as in :func:`apply_generator`.
    """
    if state.g_average is None:
        return state
    decay = state.g_average_decay
    params = jax.tree.map(lambda a, t: decay * a + (1.0 - decay) * t, state.g_average["params"], state.g_params)
    stats = state.g_average["batch_stats"]
    if stats:
        if z is None:
            raise ValueError("the averaged generator's batch statistics need the step's latents z")
        _, stats = apply_generator(state.replace(g_batch_stats=stats), params, z, labels, train=True,
                                   axis_name=axis_name)
    return state.replace(g_average={"params": params, "batch_stats": stats})


def averaged_generator(state: GANState, averaged: bool = True) -> GANState:
    """The state whose generator is the moving average (``averaged`` and one is kept), else
    ``state`` itself: what sampling and evaluation apply."""
    if not averaged or state.g_average is None:
        return state
    return state.replace(g_params=state.g_average["params"], g_batch_stats=state.g_average["batch_stats"])


def recalibrate_average_statistics(state: GANState, key: jax.Array, batches: int = 32,
                                   batch_size: int = 1024, num_classes: Optional[int] = None) -> GANState:
    """``state`` whose generator average has its batch-norm statistics measured afresh.

    Precise batch norm for the average: ``batches`` train-mode passes of the
    averaged generator over fresh latents ``(batch_size, latent_dim)`` drawn from
    ``fold_in(key, i)`` (with classes drawn uniformly from ``num_classes`` for a
    conditional generator), each moving every layer's running mean and variance
    one step of its momentum m towards the batch's. After them the statistics
    start from the stored ones with weight m^batches (0.9^32 = 0.03) and weigh
    about batch_size (1 + m) / (1 - m) latents (19 * 1024 at m = 0.9): the
    statistics of the averaged parameters, with far less noise than the few
    training batches behind the statistics the training step keeps. Unchanged
    where the state keeps no average, or its generator has no batch norm.
    """
    if state.g_average is None or not state.g_average["batch_stats"]:
        return state
    if batches < 1 or batch_size < 1:
        raise ValueError(f"recalibration needs at least one batch of at least one latent; got "
                         f"batches={batches}, batch_size={batch_size}")
    return _recalibrate(state, key, batches, batch_size, num_classes)


@functools.partial(jax.jit, static_argnames=("batches", "batch_size", "num_classes"))
def _recalibrate(state: GANState, key: jax.Array, batches: int, batch_size: int, num_classes) -> GANState:
    params = state.g_average["params"]

    def one_batch(i, stats):
        batch_key = jax.random.fold_in(key, i)
        z = sample_latent(batch_key, batch_size, state.latent_dim, state.latent_dist)
        labels = (None if num_classes is None else
                  jax.random.randint(jax.random.fold_in(batch_key, 1), (batch_size,), 0, num_classes))
        return apply_generator(state.replace(g_batch_stats=stats), params, z, labels, train=True)[1]

    stats = jax.lax.fori_loop(0, batches, one_batch, state.g_average["batch_stats"])
    return state.replace(g_average={"params": params, "batch_stats": stats})


def _cond(labels, axis_name=None):
    """The keyword arguments a model gets besides its input: its labels and the
    mesh axis its batch norm averages over (each only when given)."""
    kwargs = {} if labels is None else {"labels": labels}
    if axis_name is not None:
        kwargs["axis_name"] = axis_name
    return kwargs


def apply_generator(state: GANState, g_params, z, labels=None, train: bool = True, axis_name=None):
    """G(z) in train mode (batch statistics from the batch, updated stats returned)
    or eval mode (running averages). Returns ``(samples, new_g_batch_stats)``.

    ``axis_name``: the mesh axis over which batch norm averages its batch
    statistics (inside ``shard_map``/``pmap``); None: this device's batch."""
    variables = {"params": g_params}
    if state.g_batch_stats:
        variables["batch_stats"] = state.g_batch_stats
    if train and state.g_batch_stats:
        x, mutated = state.generator.apply(variables, z, train=True, mutable=["batch_stats"],
                                               **_cond(labels, axis_name))
        return x, mutated["batch_stats"]
    return state.generator.apply(variables, z, train=train, **_cond(labels)), state.g_batch_stats


def apply_discriminator(state: GANState, d_params, d_batch_stats, x, labels=None,
                        train: bool = True, return_features: bool = False, axis_name=None):
    """D(x) -> ``(outputs, new_d_batch_stats)``; outputs are logits ``(B,)``
    (or ``(logits, features)`` with ``return_features``); ``axis_name`` as in
    :func:`apply_generator`."""
    variables = {"params": d_params}
    if d_batch_stats:
        variables["batch_stats"] = d_batch_stats
    kwargs = dict(train=train, return_features=return_features, **_cond(labels, axis_name))
    if train and d_batch_stats:
        out, mutated = state.discriminator.apply(variables, x, mutable=["batch_stats"], **kwargs)
        return out, mutated["batch_stats"]
    return state.discriminator.apply(variables, x, **kwargs), d_batch_stats


