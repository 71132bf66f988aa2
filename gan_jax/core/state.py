"""The train state and the pure, jit-compiled GAN steps.

``GANState`` is one immutable pytree. A step takes a state and returns a new
one plus a dict of scalar metrics; nothing else is read or written. The two
optax transformations, the two Flax modules and the objective are static
fields: they are part of the pytree's structure, so ``jax.jit`` compiles once
per model and objective.

Batches are float32 NHWC images (or ``(B, dim)`` vectors for toys) and the
steps never look at the device: the same code runs on CPU, GPU and TPU.
"""

import dataclasses
import functools
from typing import Any, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import struct

from gan_jax.core import losses
from gan_jax.core.unrolled import unroll_updates

__all__ = [
    "GANObjective", "GANState", "create_state", "sample_latent", "generate",
    "d_step", "g_step", "train_step", "naive_train_step",
]

Params = Any
UNROLL_OBJECTIVES = ("generator", "minimax")


@dataclasses.dataclass(frozen=True)
class GANObjective:
    """Which losses a GAN minimises (hashable, so it can be a static field).

    Attributes:
      d_loss: key of :data:`gan_jax.core.losses.D_LOSSES`.
      g_loss: key of :data:`gan_jax.core.losses.G_LOSSES`.
      gp_weight: weight lambda of the WGAN-GP gradient penalty (0 = none).
      label_smoothing: one-sided smoothing s of the real targets (bce only).
      feature_matching: the generator minimises feature matching on D's last
        hidden layer instead of ``g_loss``.
      unroll_steps: k >= 0; the generator's loss uses D after k unrolled
        optimiser steps (Metz et al. 2016; 0 = ordinary GAN).
      unroll_stop_gradient: treat the unrolled D as a constant (the cheap
        first-order variant) instead of differentiating through its updates.
      unroll_objective: what G minimises against the unrolled D_K:
        ``"generator"``, its own ``g_loss`` on G(z); ``"minimax"``, Metz et al.'s
        f_K = f(theta_G, theta_D^K(theta_G)) with f the value function, i.e.
        minus D's adversarial loss on (x, G(z)), whose real-data term
        E log D_K(x) also depends on theta_G through the unroll.
      unroll_shared_latent: every unrolled D update sees the fakes G(z) of the
        generator's own loss (as the authors' notebook does) instead of fresh
        latents per update.
      aux_class_weight: AC-GAN (a D returning ``(logits, class_logits)``):
        weight of the class cross-entropy that both D (real and fake) and G
        (fake) minimise (Odena et al. 2017, L_C).
      r1_weight: gamma of the R1 penalty (gamma / 2) E ||grad_x D(x)||^2 on
        real data (Mescheder et al. 2018; 0 = none).
      r2_weight: gamma of the R2 penalty (gamma / 2) E ||grad_x D(x)||^2 on
        generated data (Mescheder et al. 2018; 0 = none).
      instance_noise: sigma >= 0; every input of D (real and fake, in both
        players' losses) gets Gaussian noise of std sigma added (Sonderby et
        al. 2017; 0 = none). The penalties see the noisy inputs.
      weight_clip: c >= 0; after each D update every parameter of D is
        clipped to [-c, c] (WGAN, Arjovsky et al. 2017; 0 = none).
      consensus_weight: gamma >= 0 of consensus optimisation (Mescheder et
        al. 2017): both players add (gamma / 2) ||v||^2 to their loss, v =
        (grad_G L_G, grad_D L_D) the joint gradient field at the current
        parameters (0 = none).
      simultaneous: ``train_step`` takes G's step from the state before its D
        steps (both players move from the same point) instead of after them.
    """
    d_loss: str = "bce"
    g_loss: str = "nonsaturating"
    gp_weight: float = 0.0
    label_smoothing: float = 0.0
    feature_matching: bool = False
    unroll_steps: int = 0
    unroll_stop_gradient: bool = False
    unroll_objective: str = "generator"
    unroll_shared_latent: bool = False
    aux_class_weight: float = 1.0
    r1_weight: float = 0.0
    r2_weight: float = 0.0
    instance_noise: float = 0.0
    weight_clip: float = 0.0
    consensus_weight: float = 0.0
    simultaneous: bool = False

    def __post_init__(self):
        if self.d_loss not in losses.D_LOSSES:
            raise ValueError(f"unknown d_loss {self.d_loss!r}; expected one of {sorted(losses.D_LOSSES)}")
        if self.g_loss not in losses.G_LOSSES:
            raise ValueError(f"unknown g_loss {self.g_loss!r}; expected one of {sorted(losses.G_LOSSES)}")
        if self.label_smoothing and self.d_loss != "bce":
            raise ValueError("label_smoothing applies to d_loss='bce' only")
        if self.unroll_steps < 0:
            raise ValueError(f"unroll_steps must be >= 0, got {self.unroll_steps}")
        if self.unroll_objective not in UNROLL_OBJECTIVES:
            raise ValueError(f"unknown unroll_objective {self.unroll_objective!r}; expected one of "
                             f"{', '.join(UNROLL_OBJECTIVES)}")
        if not self.unroll_steps and (self.unroll_objective != "generator" or self.unroll_shared_latent):
            raise ValueError("unroll_objective and unroll_shared_latent change the unrolled discriminator; they "
                             "need unroll_steps >= 1 (with no unroll, f_0 is the minimax value: g_loss=saturating)")
        if self.unroll_objective == "minimax" and self.feature_matching:
            raise ValueError("unroll_objective='minimax' replaces the generator loss; it cannot be "
                             "combined with feature_matching")
        if self.gp_weight < 0 or self.r1_weight < 0:
            raise ValueError(f"penalty weights must be >= 0, got gp_weight={self.gp_weight}, "
                             f"r1_weight={self.r1_weight}")
        for name in ("r2_weight", "instance_noise", "weight_clip", "consensus_weight"):
            value = getattr(self, name)
            if not value >= 0 or value == float("inf"):  # `not >=` also catches NaN
                raise ValueError(f"{name} must be 0 (off) or a positive finite number, got {value}")
        if self.consensus_weight and self.unroll_steps:
            raise ValueError("consensus_weight and unroll_steps cannot be combined; set one of them to 0")


class GANState(struct.PyTreeNode):
    """Generator and discriminator parameters, batch statistics, optimiser states and step.

    ``g_batch_stats``/``d_batch_stats`` are empty dicts for models without
    batch norm. ``latent_dim`` and ``latent_dist`` say how z is drawn.
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


def sample_latent(key: jax.Array, n: int, latent_dim: int, dist: str = "normal") -> jax.Array:
    """z ~ N(0, I) (``"normal"``) or U[-1, 1] (``"uniform"``): ``(n, latent_dim)``."""
    if dist == "normal":
        return jax.random.normal(key, (n, latent_dim))
    if dist == "uniform":
        return jax.random.uniform(key, (n, latent_dim), minval=-1.0, maxval=1.0)
    raise ValueError(f"unknown latent_dist {dist!r}; expected 'normal' or 'uniform'")


def create_state(key: jax.Array, generator: nn.Module, discriminator: nn.Module,
                 g_tx: optax.GradientTransformation, d_tx: optax.GradientTransformation,
                 *, latent_dim: int, data_shape, objective: GANObjective = GANObjective(),
                 latent_dist: str = "normal", labels: Optional[jax.Array] = None) -> GANState:
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
    """
    g_key, d_key = jax.random.split(key)
    # A packed discriminator (PacGAN) needs whole packs: init on 2 of them.
    n = 2 * getattr(discriminator, "pack", 1)
    z = jnp.zeros((n, latent_dim), jnp.float32)
    x = jnp.zeros((n,) + tuple(data_shape), jnp.float32)
    cond = {} if labels is None else {"labels": labels}
    g_vars = generator.init(g_key, z, train=False, **cond)
    d_vars = discriminator.init(d_key, x, train=False, **cond)
    return GANState(
        step=jnp.zeros((), jnp.int32),
        g_params=g_vars["params"], d_params=d_vars["params"],
        g_batch_stats=g_vars.get("batch_stats", {}), d_batch_stats=d_vars.get("batch_stats", {}),
        g_opt_state=g_tx.init(g_vars["params"]), d_opt_state=d_tx.init(d_vars["params"]),
        generator=generator, discriminator=discriminator, g_tx=g_tx, d_tx=d_tx,
        objective=objective, latent_dim=latent_dim, latent_dist=latent_dist)


def _cond(labels):
    return {} if labels is None else {"labels": labels}


def apply_generator(state: GANState, g_params, z, labels=None, train: bool = True):
    """G(z) in train mode (batch statistics from the batch, updated stats returned)
    or eval mode (running averages). Returns ``(samples, new_g_batch_stats)``."""
    variables = {"params": g_params}
    if state.g_batch_stats:
        variables["batch_stats"] = state.g_batch_stats
    if train and state.g_batch_stats:
        x, mutated = state.generator.apply(variables, z, train=True, mutable=["batch_stats"], **_cond(labels))
        return x, mutated["batch_stats"]
    return state.generator.apply(variables, z, train=train, **_cond(labels)), state.g_batch_stats


def apply_discriminator(state: GANState, d_params, d_batch_stats, x, labels=None,
                        train: bool = True, return_features: bool = False):
    """D(x) -> ``(outputs, new_d_batch_stats)``; outputs are logits ``(B,)``
    (or ``(logits, features)`` with ``return_features``)."""
    variables = {"params": d_params}
    if d_batch_stats:
        variables["batch_stats"] = d_batch_stats
    kwargs = dict(train=train, return_features=return_features, **_cond(labels))
    if train and d_batch_stats:
        out, mutated = state.discriminator.apply(variables, x, mutable=["batch_stats"], **kwargs)
        return out, mutated["batch_stats"]
    return state.discriminator.apply(variables, x, **kwargs), d_batch_stats


def _split_aux(logits, labels, weight):
    """AC-GAN D outputs ``(logits (B,), class_logits (B, K))`` -> (logits,
    weight * mean CE(class_logits, labels)); other Ds -> (logits, 0)."""
    if not isinstance(logits, tuple):
        return logits, 0.0
    logits, class_logits = logits
    ce = optax.softmax_cross_entropy_with_integer_labels(class_logits, labels)
    return logits, weight * jnp.mean(ce)


def _with_instance_noise(x, sigma, key):
    """x + sigma * eps, eps ~ N(0, I) of x's shape (sigma = 0: x unchanged)."""
    if not sigma:
        return x
    return x + sigma * jax.random.normal(key, x.shape, x.dtype)


def _d_loss(state: GANState, d_params, real, fake, labels, key):
    """Discriminator loss on one real and one (fixed) fake batch; ``key``
    draws WGAN-GP's interpolation weights and the instance noise."""
    obj = state.objective
    if obj.instance_noise:
        real_key, fake_key = jax.random.split(jax.random.fold_in(key, 1))
        real = _with_instance_noise(real, obj.instance_noise, real_key)
        fake = _with_instance_noise(fake, obj.instance_noise, fake_key)
    real_logits, stats = apply_discriminator(state, d_params, state.d_batch_stats, real, labels)
    fake_logits, stats = apply_discriminator(state, d_params, stats, fake, labels)
    real_logits, real_aux = _split_aux(real_logits, labels, obj.aux_class_weight)
    fake_logits, fake_aux = _split_aux(fake_logits, labels, obj.aux_class_weight)
    if obj.d_loss == "bce":
        loss = losses.discriminator_bce(real_logits, fake_logits, obj.label_smoothing)
    else:
        loss = losses.D_LOSSES[obj.d_loss](real_logits, fake_logits)
    # The penalties are on the adversarial output only (AC-GAN's class logits are dropped).
    critic = lambda x: _split_aux(apply_discriminator(state, d_params, stats, x, labels)[0], labels, 0.0)[0]
    if obj.gp_weight:
        loss = loss + obj.gp_weight * losses.gradient_penalty(critic, real, fake, key)
    if obj.r1_weight:
        loss = loss + 0.5 * obj.r1_weight * losses.r1_penalty(critic, real)
    if obj.r2_weight:
        loss = loss + 0.5 * obj.r2_weight * losses.r2_penalty(critic, fake)
    return loss + real_aux + fake_aux, (stats, real_logits, fake_logits)


def _tree_sq_norm(tree) -> jax.Array:
    """Sum of the squares of every entry of a pytree."""
    return sum(jnp.sum(jnp.square(x)) for x in jax.tree.leaves(tree))


def _joint_field_sq_norm(state: GANState, g_params, d_params, real, z, labels, key):
    """||v||^2, v = (grad_G L_G, grad_D L_D) at (``g_params``, ``d_params``).

    The squared norm of the game's joint gradient field (Mescheder et al.
    2017, "The Numerics of GANs", eq. 8), both losses on the same latent
    batch ``z`` ``(B, latent_dim)`` and real batch ``real`` ``(B, ...)``.
    Differentiable in both parameter sets: consensus optimisation adds
    (gamma / 2) ||v||^2 to each player's loss.
    """
    at = state.replace(g_params=g_params, d_params=d_params)

    def d_loss(dp):
        fake, _ = apply_generator(at, g_params, z, labels)
        return _d_loss(at, dp, real, fake, labels, key)[0]

    def g_loss(gp):
        return _g_loss(at, gp, z, labels, real, noise_key=jax.random.fold_in(key, 2))[0]

    return _tree_sq_norm(jax.grad(d_loss)(d_params)) + _tree_sq_norm(jax.grad(g_loss)(g_params))


def _clip_weights(params, c):
    """Every parameter clipped to [-c, c] (c = 0: unchanged)."""
    if not c:
        return params
    return jax.tree.map(lambda p: jnp.clip(p, -c, c), params)


def _clipping_tx(tx: optax.GradientTransformation, c: float) -> optax.GradientTransformation:
    """``tx`` whose updates land every parameter inside [-c, c]: the WGAN
    discriminator's update, for the unrolled lookahead (c = 0: ``tx`` itself)."""
    if not c:
        return tx

    def update(updates, opt_state, params):
        updates, opt_state = tx.update(updates, opt_state, params)
        return jax.tree.map(lambda p, u: jnp.clip(p + u, -c, c) - p, params, updates), opt_state

    return optax.GradientTransformation(tx.init, update)


def _d_step(state: GANState, real_batch, key, labels=None):
    obj = state.objective
    z_key, gp_key = jax.random.split(key)
    z = sample_latent(z_key, real_batch.shape[0], state.latent_dim, state.latent_dist)
    # No stop_gradient on the fakes: the gradient below is taken in D's
    # parameters only, and the update stays differentiable in G's (the
    # Dirac-GAN lab takes jax.jacfwd of train_step; stop_gradient would zero it).
    fake, g_stats = apply_generator(state, state.g_params, z, labels)

    def loss_fn(d_params):
        loss, aux = _d_loss(state, d_params, real_batch, fake, labels, gp_key)
        if obj.consensus_weight:
            loss = loss + 0.5 * obj.consensus_weight * _joint_field_sq_norm(
                state, state.g_params, d_params, real_batch, z, labels, gp_key)
        return loss, aux

    (loss, (d_stats, real_logits, fake_logits)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.d_params)
    updates, d_opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
    new_state = state.replace(d_params=_clip_weights(optax.apply_updates(state.d_params, updates),
                                                     obj.weight_clip),
                              d_opt_state=d_opt_state, d_batch_stats=d_stats, g_batch_stats=g_stats)
    metrics = {"d_loss": loss,
               "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
               "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits))}
    return new_state, metrics


@jax.jit
def d_step(state: GANState, real_batch: jax.Array, key: jax.Array, labels=None):
    """One discriminator update on a real batch and a fresh fake batch.

    Args:
      state: the GAN state.
      real_batch: ``(B, ...)`` real samples.
      key: PRNG key (z and, for WGAN-GP, the interpolation weights).
      labels: ``(B,)`` int labels for conditional models, else None.

    Returns:
      ``(new_state, metrics)``; metrics hold ``d_loss``, ``d_real`` = mean
      D(x) and ``d_fake`` = mean D(G(z)) (D = sigmoid of the output).
    """
    return _d_step(state, real_batch, key, labels)


def _unrolled_d_params(state: GANState, g_params, real_batch, labels, key, shared_fake=None):
    """theta_D^k(theta_G): k real ``d_tx`` updates of D on ``real_batch`` and
    fakes G(z_t; g_params), differentiable in ``g_params`` (Metz et al.
    2016, eqs. 4-6); see :func:`gan_jax.core.unrolled.unroll_updates`. The z_t are
    fresh per update, or every update uses ``shared_fake`` (G's own batch)."""
    def d_loss(d_params, step_key):
        z_key, gp_key = jax.random.split(step_key)
        if shared_fake is None:
            z = sample_latent(z_key, real_batch.shape[0], state.latent_dim, state.latent_dist)
            fake, _ = apply_generator(state, g_params, z, labels)
        else:
            fake = shared_fake
        return _d_loss(state, d_params, real_batch, fake, labels, gp_key)[0]

    keys = jax.random.split(key, state.objective.unroll_steps)
    d_tx = _clipping_tx(state.d_tx, state.objective.weight_clip)
    return unroll_updates(d_loss, state.d_params, state.d_opt_state, d_tx, keys,
                          stop_gradient=state.objective.unroll_stop_gradient)


def _g_loss(state: GANState, g_params, z, labels, real_batch, unroll_key=None, noise_key=None):
    fake, g_stats = apply_generator(state, g_params, z, labels)
    obj = state.objective
    if obj.instance_noise:
        fake_key, real_key = jax.random.split(noise_key)
        fake = _with_instance_noise(fake, obj.instance_noise, fake_key)
        if obj.feature_matching:
            real_batch = _with_instance_noise(real_batch, obj.instance_noise, real_key)
    # The unrolled GAN scores G against D as it will be k steps ahead.
    d_params = (_unrolled_d_params(state, g_params, real_batch, labels, unroll_key,
                                   fake if obj.unroll_shared_latent else None)
                if obj.unroll_steps else state.d_params)
    if obj.unroll_steps and obj.unroll_objective == "minimax":
        # f_K: G maximises D's adversarial loss under theta_D^K(theta_G), real term included.
        real_logits, _ = apply_discriminator(state, d_params, state.d_batch_stats, real_batch, labels)
        fake_logits, _ = apply_discriminator(state, d_params, state.d_batch_stats, fake, labels)
        real_logits, _ = _split_aux(real_logits, labels, 0.0)
        fake_logits, _ = _split_aux(fake_logits, labels, 0.0)
        return -losses.D_LOSSES[obj.d_loss](real_logits, fake_logits), (g_stats, fake_logits)
    if obj.feature_matching:
        (fake_logits, fake_feat), _ = apply_discriminator(
            state, d_params, state.d_batch_stats, fake, labels, return_features=True)
        (_, real_feat), _ = apply_discriminator(
            state, d_params, state.d_batch_stats, real_batch, labels, return_features=True)
        loss = losses.feature_matching(jax.lax.stop_gradient(real_feat), fake_feat)
    else:
        fake_logits, _ = apply_discriminator(state, d_params, state.d_batch_stats, fake, labels)
        fake_logits, aux = _split_aux(fake_logits, labels, obj.aux_class_weight)
        loss = losses.G_LOSSES[obj.g_loss](fake_logits) + aux
    return loss, (g_stats, fake_logits)


def _g_step(state: GANState, key, labels=None, real_batch=None, batch_size=None):
    if batch_size is None:
        sized = real_batch if real_batch is not None else labels
        if sized is None:
            raise ValueError("g_step needs batch_size, real_batch or labels to know the batch size")
        batch_size = sized.shape[0]
    if state.objective.feature_matching and real_batch is None:
        raise ValueError("feature matching needs real_batch in g_step")
    if state.objective.unroll_steps and real_batch is None:
        raise ValueError("the unrolled discriminator needs real_batch in g_step")
    obj = state.objective
    if obj.consensus_weight and real_batch is None:
        raise ValueError("consensus optimisation needs real_batch in g_step")
    unroll_key = None
    if obj.unroll_steps:
        key, unroll_key = jax.random.split(key)
    z = sample_latent(key, batch_size, state.latent_dim, state.latent_dist)
    # Derived keys leave z's draw, and so every run without these options, unchanged.
    noise_key, consensus_key = jax.random.fold_in(key, 1), jax.random.fold_in(key, 2)

    def loss_fn(g_params):
        loss, aux = _g_loss(state, g_params, z, labels, real_batch, unroll_key, noise_key)
        if obj.consensus_weight:
            loss = loss + 0.5 * obj.consensus_weight * _joint_field_sq_norm(
                state, g_params, state.d_params, real_batch, z, labels, consensus_key)
        return loss, aux

    (loss, (g_stats, fake_logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.g_params)
    updates, g_opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
    new_state = state.replace(g_params=optax.apply_updates(state.g_params, updates),
                              g_opt_state=g_opt_state, g_batch_stats=g_stats, step=state.step + 1)
    return new_state, {"g_loss": loss, "d_fake_g": jnp.mean(jax.nn.sigmoid(fake_logits))}


@functools.partial(jax.jit, static_argnames=("batch_size",))
def g_step(state: GANState, key: jax.Array, labels=None, real_batch=None, batch_size=None):
    """One generator update; the discriminator is held fixed.

    The batch size comes from ``batch_size``, else ``real_batch``, else
    ``labels``. ``real_batch`` ``(B, ...)`` is needed only by feature matching.

    Returns:
      ``(new_state, metrics)`` with ``g_loss`` and ``d_fake_g`` = mean D(G(z))
      before the update. ``state.step`` counts generator updates.
    """
    return _g_step(state, key, labels, real_batch, batch_size)


def _select(labels, i):
    return None if labels is None else labels[i]


@jax.jit
def train_step(state: GANState, real_batches: jax.Array, key: jax.Array, labels=None):
    """k discriminator steps, then one generator step, in one compiled function.

    Alternating by default: the generator steps against the discriminator its
    k steps produced. With ``objective.simultaneous`` the generator's step is
    taken from the state before them (both players move from the same point).

    Args:
      real_batches: ``(k, B, ...)``: one real batch per discriminator step
        (k = ``real_batches.shape[0]``; Goodfellow et al. 2014 use k=1, and
        k <= 2 is the usual advice).
      key: PRNG key.
      labels: ``(k, B)`` labels for conditional models, else None.

    Returns:
      ``(new_state, metrics)``: the last D step's metrics and the G step's.
    """
    k = real_batches.shape[0]
    d_keys = jax.random.split(jax.random.fold_in(key, 0), k)
    g_key = jax.random.fold_in(key, 1)

    # k is static and small (1 or 2): a Python loop traces the D steps inline.
    # Inside a lax.scan body XLA:CPU ran the convolutions about 10x slower.
    start = state
    for i in range(k):
        state, d_metrics = _d_step(state, real_batches[i], d_keys[i], _select(labels, i))
    if state.objective.simultaneous:
        moved, g_metrics = _g_step(start, g_key, _select(labels, -1), real_batches[-1])
        state = state.replace(g_params=moved.g_params, g_opt_state=moved.g_opt_state,
                              g_batch_stats=moved.g_batch_stats, step=moved.step)
    else:
        state, g_metrics = _g_step(state, g_key, _select(labels, -1), real_batches[-1])
    return state, {**d_metrics, **g_metrics}


@functools.partial(jax.jit, static_argnames=("tol", "max_d_steps"))
def naive_train_step(state: GANState, real_batch: jax.Array, key: jax.Array, labels=None,
                     *, tol: float = 1e-3, max_d_steps: int = 100):
    """The naive algorithm: train D to convergence, then one G step.

    D steps repeat on ``real_batch`` (with fresh fakes each time) until the
    discriminator loss changes by less than ``tol`` between two steps or
    ``max_d_steps`` steps were taken. Metrics add ``d_steps_taken``.
    """
    d_key, g_key = jax.random.split(key)
    _, metrics0 = jax.eval_shape(_d_step, state, real_batch, d_key, labels)
    init_metrics = jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics0)

    def cond(carry):
        _, metrics, prev_loss, i = carry
        return (i < max_d_steps) & ((i < 2) | (jnp.abs(metrics["d_loss"] - prev_loss) >= tol))

    def body(carry):
        s, metrics, _, i = carry
        s, new_metrics = _d_step(s, real_batch, jax.random.fold_in(d_key, i), labels)
        return s, new_metrics, metrics["d_loss"], i + 1

    state, d_metrics, _, taken = jax.lax.while_loop(
        cond, body, (state, init_metrics, jnp.asarray(jnp.inf, jnp.float32), jnp.asarray(0)))
    state, g_metrics = _g_step(state, g_key, labels, real_batch)
    return state, {**d_metrics, **g_metrics, "d_steps_taken": taken}


@functools.partial(jax.jit, static_argnames=("n",))
def generate(state: GANState, key: jax.Array, n: int, labels=None) -> jax.Array:
    """n samples G(z) in eval mode (batch norm uses running averages): ``(n, ...)``."""
    z = sample_latent(key, n, state.latent_dim, state.latent_dist)
    return apply_generator(state, state.g_params, z, labels, train=False)[0]
