"""The GAN steps: pure functions ``(state, batch, key) -> (state, metrics)``.

Every step takes a :class:`~gan_jax.core.state.GANState`, a
:class:`~gan_jax.core.state.Batch` and a PRNG key, and returns a new state and
a dict of scalar metrics; nothing else is read or written. They are plain
functions: ``jax.jit``, ``jax.vmap``, ``jax.lax.scan``, ``jax.shard_map`` and
``jax.grad`` apply to them as to any JAX function. Ready compiled versions,
which donate the input state's buffers (the state passed in must not be used
again), are :data:`jit_d_step`, :data:`jit_g_step`, :data:`jit_train_step` and
:data:`jit_naive_train_step`::

    state, metrics = jit_train_step(state, Batch(images[None]), key)

What compiles: ``jax.jit`` compiles a step once per pytree structure of its
arguments and their shapes and dtypes. The state's static fields are part of
that structure: the two Flax modules and the objective (compared by value),
``latent_dim``/``latent_dist``, and the two optax transformations, which are
compared by *identity*: a fresh ``optax.adam(1e-3)`` is a new object and
compiles the step again even when it equals an earlier one. Build each
optimiser once and reuse it (``gan_jax.config.build.build_optimizers`` returns
the same objects for the same settings). Static arguments (``axis_name``,
``tol``, ``max_d_steps``) are bound with ``functools.partial`` or passed as
static arguments, and a new value compiles again.

Data parallelism: with ``axis_name`` (bound with ``functools.partial``), a
step run inside ``shard_map``/``pmap`` over that mesh axis averages the
gradients, the metrics and the batch-norm statistics over it, and draws the
latents (and instance noise) of the global batch from ``key`` (the same key on
every device), each device taking its own rows; so it computes the step of
the global batch on one device. Under plain ``jax.jit`` with a sharded batch
XLA does all this by itself and no ``axis_name`` is needed. Not supported
with an axis: the unrolled discriminator and consensus optimisation (a
ValueError); WGAN-GP's interpolation weights are drawn per device.
"""

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import optax

from gan_jax.core import losses
from gan_jax.core.state import (
    Batch,
    GANState,
    apply_discriminator,
    apply_generator,
    averaged_generator,
    sample_latent,
    update_generator_average,
)
from gan_jax.core.unrolled import unroll_updates

__all__ = ["d_step", "g_step", "train_step", "naive_train_step", "generate",
           "jit_d_step", "jit_g_step", "jit_train_step", "jit_naive_train_step"]


def _global_rows(draw, key, local_shape, axis_name):
    """``draw(key, shape)`` for this device's rows of the global batch.

    Without an axis: ``draw(key, local_shape)``. With one of n devices, each
    with ``local_shape[0]`` = b rows: rows ``i b .. (i + 1) b - 1`` of
    ``draw(key, (n b, ...))``, i = this device's index on the axis.
    """
    if axis_name is None:
        return draw(key, tuple(local_shape))
    b = local_shape[0]
    full = draw(key, (jax.lax.axis_size(axis_name) * b,) + tuple(local_shape[1:]))
    return jax.lax.dynamic_slice_in_dim(full, jax.lax.axis_index(axis_name) * b, b)


def _latents(state: GANState, key, n: int, axis_name):
    """z ``(n, latent_dim)``: this device's rows of the global batch's latents."""
    return _global_rows(lambda k, shape: sample_latent(k, shape[0], state.latent_dim, state.latent_dist),
                        key, (n, state.latent_dim), axis_name)


def _per_device(params, axis_name):
    """``params`` marked as varying over the mesh axis, so that ``jax.grad`` gives this
    device's own gradient (``shard_map`` would otherwise sum the gradient of replicated
    parameters over the devices); :func:`_mean_over` then averages it. Unchanged without an
    axis, or where the parameters already vary."""
    if axis_name is None:
        return params

    def cast(x):
        if axis_name in getattr(jax.typeof(x), "vma", frozenset()):
            return x
        return jax.lax.pcast(x, axis_name, to="varying")
    return jax.tree.map(cast, params)


def _mean_over(tree, axis_name):
    """``tree`` averaged over the mesh axis (unchanged without one)."""
    return tree if axis_name is None else jax.lax.pmean(tree, axis_name)


def _check_axis(state: GANState, axis_name) -> None:
    obj = state.objective
    if axis_name is not None and (obj.unroll_steps or obj.consensus_weight):
        raise ValueError("axis_name does not support the unrolled discriminator or consensus optimisation; "
                         "run them under jax.jit with a sharded batch instead")


def _split_aux(logits, labels, weight):
    """AC-GAN D outputs ``(logits (B,), class_logits (B, K))`` -> (logits,
    weight * mean CE(class_logits, labels)); other Ds -> (logits, 0)."""
    if not isinstance(logits, tuple):
        return logits, 0.0
    logits, class_logits = logits
    ce = optax.softmax_cross_entropy_with_integer_labels(class_logits, labels)
    return logits, weight * jnp.mean(ce)


def _with_instance_noise(x, sigma, key, axis_name=None):
    """x + sigma * eps, eps ~ N(0, I) of x's shape (sigma = 0: x unchanged)."""
    if not sigma:
        return x
    return x + sigma * _global_rows(lambda k, shape: jax.random.normal(k, shape, x.dtype), key, x.shape,
                                    axis_name)


def _d_loss(state: GANState, d_params, real, fake, labels, key, axis_name=None):
    """Discriminator loss on one real and one (fixed) fake batch; ``key``
    draws WGAN-GP's interpolation weights and the instance noise."""
    obj = state.objective
    if obj.instance_noise:
        real_key, fake_key = jax.random.split(jax.random.fold_in(key, 1))
        real = _with_instance_noise(real, obj.instance_noise, real_key, axis_name)
        fake = _with_instance_noise(fake, obj.instance_noise, fake_key, axis_name)
    real_logits, stats = apply_discriminator(state, d_params, state.d_batch_stats, real, labels,
                                             axis_name=axis_name)
    fake_logits, stats = apply_discriminator(state, d_params, stats, fake, labels, axis_name=axis_name)
    real_logits, real_aux = _split_aux(real_logits, labels, obj.aux_class_weight)
    fake_logits, fake_aux = _split_aux(fake_logits, labels, obj.aux_class_weight)
    if obj.d_loss == "bce":
        loss = losses.discriminator_bce(real_logits, fake_logits, obj.label_smoothing)
    else:
        loss = losses.D_LOSSES[obj.d_loss](real_logits, fake_logits)
    # The penalties are on the adversarial output only (AC-GAN's class logits are dropped).
    critic = lambda x: _split_aux(apply_discriminator(state, d_params, stats, x, labels,  # noqa: E731
                                                      axis_name=axis_name)[0], labels, 0.0)[0]
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


def d_step(state: GANState, batch: Batch, key: jax.Array, *, axis_name: Optional[str] = None):
    """One discriminator update on a real batch and a fresh fake batch.

    theta_D <- theta_D + update(grad_D L_D(x, G(z))), z ~ p_z drawn from ``key``,
    with L_D the objective's discriminator loss (plus its penalties).

    Args:
      state: the GAN state.
      batch: ``Batch(image (B, ...), label (B,) | None)``.
      key: PRNG key (z; WGAN-GP's interpolation weights; instance noise).
      axis_name: mesh axis to average over inside ``shard_map``/``pmap`` (see the module docstring).

    Returns:
      ``(new_state, metrics)``; metrics hold ``d_loss``, ``d_real`` = mean
      D(x) and ``d_fake`` = mean D(G(z)) (D = sigmoid of the output).
    """
    _check_axis(state, axis_name)
    obj = state.objective
    real, labels = batch.image, batch.label
    z_key, gp_key = jax.random.split(key)
    z = _latents(state, z_key, real.shape[0], axis_name)
    # No stop_gradient on the fakes: the gradient below is taken in D's
    # parameters only, and the update stays differentiable in G's (the
    # Dirac-GAN lab takes jax.jacfwd of train_step; stop_gradient would zero it).
    fake, g_stats = apply_generator(state, state.g_params, z, labels, axis_name=axis_name)

    def loss_fn(d_params):
        loss, aux = _d_loss(state, d_params, real, fake, labels, gp_key, axis_name)
        if obj.consensus_weight:
            loss = loss + 0.5 * obj.consensus_weight * _joint_field_sq_norm(
                state, state.g_params, d_params, real, z, labels, gp_key)
        return loss, aux

    (loss, (d_stats, real_logits, fake_logits)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(_per_device(state.d_params, axis_name))
    grads = _mean_over(grads, axis_name)
    updates, d_opt_state = state.d_tx.update(grads, state.d_opt_state, state.d_params)
    new_state = state.replace(d_params=_clip_weights(optax.apply_updates(state.d_params, updates),
                                                     obj.weight_clip),
                              d_opt_state=d_opt_state, d_batch_stats=d_stats, g_batch_stats=g_stats)
    metrics = {"d_loss": loss,
               "d_real": jnp.mean(jax.nn.sigmoid(real_logits)),
               "d_fake": jnp.mean(jax.nn.sigmoid(fake_logits))}
    return new_state, _mean_over(metrics, axis_name)


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


def _g_loss(state: GANState, g_params, z, labels, real_batch, unroll_key=None, noise_key=None, axis_name=None):
    fake, g_stats = apply_generator(state, g_params, z, labels, axis_name=axis_name)
    obj = state.objective
    if obj.instance_noise:
        fake_key, real_key = jax.random.split(noise_key)
        fake = _with_instance_noise(fake, obj.instance_noise, fake_key, axis_name)
        if obj.feature_matching or obj.g_loss in losses.PAIRED_G_LOSSES:
            real_batch = _with_instance_noise(real_batch, obj.instance_noise, real_key, axis_name)
    # The unrolled GAN scores G against D as it will be k steps ahead.
    d_params = (_unrolled_d_params(state, g_params, real_batch, labels, unroll_key,
                                   fake if obj.unroll_shared_latent else None)
                if obj.unroll_steps else state.d_params)
    discriminate = functools.partial(apply_discriminator, state, d_params, state.d_batch_stats,
                                     labels=labels, axis_name=axis_name)
    if obj.unroll_steps and obj.unroll_objective == "minimax":
        # f_K: G maximises D's adversarial loss under theta_D^K(theta_G), real term included.
        real_logits, _ = _split_aux(discriminate(real_batch)[0], labels, 0.0)
        fake_logits, _ = _split_aux(discriminate(fake)[0], labels, 0.0)
        return -losses.D_LOSSES[obj.d_loss](real_logits, fake_logits), (g_stats, fake_logits)
    if obj.feature_matching:
        (fake_logits, fake_feat), _ = discriminate(fake, return_features=True)
        (_, real_feat), _ = discriminate(real_batch, return_features=True)
        loss = losses.feature_matching(jax.lax.stop_gradient(real_feat), fake_feat)
    else:
        fake_logits, _ = discriminate(fake)
        fake_logits, aux = _split_aux(fake_logits, labels, obj.aux_class_weight)
        if obj.g_loss in losses.PAIRED_G_LOSSES:
            # Fake i against real i (RpGAN); D's logits on the real batch do not depend on G
            # (except through an unrolled D, whose dependence is part of the unrolled loss).
            real_logits, _ = _split_aux(discriminate(real_batch)[0], labels, 0.0)
            loss = losses.PAIRED_G_LOSSES[obj.g_loss](real_logits, fake_logits) + aux
        else:
            loss = losses.G_LOSSES[obj.g_loss](fake_logits) + aux
    return loss, (g_stats, fake_logits)


def g_step(state: GANState, batch: Batch, key: jax.Array, *, axis_name: Optional[str] = None):
    """One generator update; the discriminator is held fixed.

    theta_G <- theta_G + update(grad_G L_G(G(z))), z ~ p_z drawn from ``key``
    for as many samples as ``batch`` holds, with L_G the objective's generator
    loss. The batch gives the size and the labels; its images are used by the
    losses that compare with real data (feature matching, the relativistic
    pairing loss, the unrolled discriminator, consensus optimisation).

    Args:
      state: the GAN state.
      batch: ``Batch(image (B, ...), label (B,) | None)``.
      key: PRNG key.
      axis_name: mesh axis to average over (see the module docstring).

    Returns:
      ``(new_state, metrics)`` with ``g_loss`` and ``d_fake_g`` = mean D(G(z))
      before the update. ``state.step`` counts generator updates. When the state
      keeps a generator average, it takes one step towards the new generator.
    """
    _check_axis(state, axis_name)
    obj = state.objective
    real, labels = batch.image, batch.label
    unroll_key = None
    if obj.unroll_steps:
        key, unroll_key = jax.random.split(key)
    z = _latents(state, key, real.shape[0], axis_name)
    # Derived keys leave z's draw, and so every run without these options, unchanged.
    noise_key, consensus_key = jax.random.fold_in(key, 1), jax.random.fold_in(key, 2)

    def loss_fn(g_params):
        loss, aux = _g_loss(state, g_params, z, labels, real, unroll_key, noise_key, axis_name)
        if obj.consensus_weight:
            loss = loss + 0.5 * obj.consensus_weight * _joint_field_sq_norm(
                state, g_params, state.d_params, real, z, labels, consensus_key)
        return loss, aux

    (loss, (g_stats, fake_logits)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
        _per_device(state.g_params, axis_name))
    grads = _mean_over(grads, axis_name)
    updates, g_opt_state = state.g_tx.update(grads, state.g_opt_state, state.g_params)
    new_state = state.replace(g_params=optax.apply_updates(state.g_params, updates),
                              g_opt_state=g_opt_state, g_batch_stats=g_stats, step=state.step + 1)
    new_state = update_generator_average(new_state, z, labels, axis_name)
    metrics = {"g_loss": loss, "d_fake_g": jnp.mean(jax.nn.sigmoid(fake_logits))}
    return new_state, _mean_over(metrics, axis_name)


def _select(batch: Batch, i: int) -> Batch:
    """Batch ``i`` of a ``(k, B, ...)`` batch."""
    return Batch(batch.image[i], None if batch.label is None else batch.label[i])


def train_step(state: GANState, batch: Batch, key: jax.Array, *, axis_name: Optional[str] = None):
    """k discriminator steps, then one generator step.

    Alternating by default: the generator steps against the discriminator its
    k steps produced. With ``objective.simultaneous`` the generator's step is
    taken from the state before them (both players move from the same point).
    D step i uses ``split(fold_in(key, 0), k)[i]``, the G step ``fold_in(key, 1)``.

    Args:
      state: the GAN state.
      batch: ``Batch(image (k, B, ...), label (k, B) | None)``: one real batch
        per discriminator step (k = ``batch.image.shape[0]``; Goodfellow et
        al. 2014 use k=1, and k <= 2 is the usual advice); the G step gets the last.
      key: PRNG key.
      axis_name: mesh axis to average over (see the module docstring).

    Returns:
      ``(new_state, metrics)``: the last D step's metrics and the G step's.
    """
    k = batch.image.shape[0]
    d_keys = jax.random.split(jax.random.fold_in(key, 0), k)
    g_key = jax.random.fold_in(key, 1)

    # k is static and small (1 or 2): a Python loop traces the D steps inline.
    # Inside a lax.scan body XLA:CPU ran the convolutions about 10x slower.
    start = state
    for i in range(k):
        state, d_metrics = d_step(state, _select(batch, i), d_keys[i], axis_name=axis_name)
    if state.objective.simultaneous:
        moved, g_metrics = g_step(start, _select(batch, -1), g_key, axis_name=axis_name)
        state = state.replace(g_params=moved.g_params, g_opt_state=moved.g_opt_state,
                              g_batch_stats=moved.g_batch_stats, step=moved.step, g_average=moved.g_average)
    else:
        state, g_metrics = g_step(state, _select(batch, -1), g_key, axis_name=axis_name)
    return state, {**d_metrics, **g_metrics}


def naive_train_step(state: GANState, batch: Batch, key: jax.Array, *, tol: float = 1e-3,
                     max_d_steps: int = 100, axis_name: Optional[str] = None):
    """The naive algorithm: train D to convergence, then one G step.

    D steps repeat on ``batch`` (``Batch(image (B, ...), label (B,) | None)``,
    with fresh fakes each time) until the discriminator loss changes by less
    than ``tol`` between two steps or ``max_d_steps`` steps were taken; D step i
    uses ``fold_in(split(key)[0], i)``, the G step ``split(key)[1]``. ``tol``
    and ``max_d_steps`` are static (bind them with ``functools.partial``).
    Metrics add ``d_steps_taken``.
    """
    d_key, g_key = jax.random.split(key)
    step = functools.partial(d_step, axis_name=axis_name)
    _, metrics0 = jax.eval_shape(step, state, batch, d_key)
    init_metrics = jax.tree.map(lambda m: jnp.zeros(m.shape, m.dtype), metrics0)

    def cond(carry):
        _, metrics, prev_loss, i = carry
        return (i < max_d_steps) & ((i < 2) | (jnp.abs(metrics["d_loss"] - prev_loss) >= tol))

    def body(carry):
        s, metrics, _, i = carry
        s, new_metrics = step(s, batch, jax.random.fold_in(d_key, i))
        return s, new_metrics, metrics["d_loss"], i + 1

    state, d_metrics, _, taken = jax.lax.while_loop(
        cond, body, (state, init_metrics, jnp.asarray(jnp.inf, jnp.float32), jnp.asarray(0)))
    state, g_metrics = g_step(state, batch, g_key, axis_name=axis_name)
    return state, {**d_metrics, **g_metrics, "d_steps_taken": taken}


@functools.partial(jax.jit, static_argnames=("n", "averaged"))
def generate(state: GANState, key: jax.Array, n: int, labels=None, averaged: bool = True) -> jax.Array:
    """n samples G(z), z ~ p_z drawn from ``key``, in eval mode (batch norm uses
    running averages): ``(n, ...)``; ``labels`` ``(n,)`` for conditional models.
    G is the generator's moving average where the state keeps one and ``averaged``
    (the default), else the generator as trained."""
    state = averaged_generator(state, averaged)
    z = sample_latent(key, n, state.latent_dim, state.latent_dist)
    return apply_generator(state, state.g_params, z, labels, train=False)[0]


#: :func:`d_step` compiled, donating the input state (``axis_name`` static).
jit_d_step = jax.jit(d_step, donate_argnums=0, static_argnames=("axis_name",))
#: :func:`g_step` compiled, donating the input state (``axis_name`` static).
jit_g_step = jax.jit(g_step, donate_argnums=0, static_argnames=("axis_name",))
#: :func:`train_step` compiled, donating the input state (``axis_name`` static).
jit_train_step = jax.jit(train_step, donate_argnums=0, static_argnames=("axis_name",))
#: :func:`naive_train_step` compiled, donating the input state (``tol``, ``max_d_steps``, ``axis_name`` static).
jit_naive_train_step = jax.jit(naive_train_step, donate_argnums=0,
                               static_argnames=("tol", "max_d_steps", "axis_name"))
