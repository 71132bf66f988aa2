"""Unrolled optimisation: k real optimiser updates inside a loss, differentiable.

The unrolled GAN (Metz, Poole, Pfau & Sohl-Dickstein 2016, "Unrolled
Generative Adversarial Networks", eqs. 4-6) trains the generator against the
discriminator as it will be after k more of its own updates:

    theta_D^0 = theta_D,
    theta_D^{t+1} = theta_D^t + update_t(grad L_D(theta_D^t, theta_G)),   t < k,
    f_k(theta_G, theta_D) = f(theta_G, theta_D^k(theta_G, theta_D)),

where ``update_t`` is the real optax transformation (Adam included, with its
moment estimates carried along). The generator's gradient of f_k contains
the term d theta_D^k / d theta_G that flows back through all k updates; the
cheap variant (``stop_gradient=True``) drops it and uses theta_D^k as a
constant. :func:`unroll_updates` is that recursion for any loss and any
optimiser, as one ``lax.scan``; :mod:`gan_jax.state` calls it inside the
generator loss.

Backpropagating through the scan keeps every step's parameters, optimiser
state and activations, so memory grows linearly in k:
:func:`unroll_memory_bytes` estimates it before anything is compiled and
:func:`check_unroll` refuses an unroll that does not fit.
"""

import math
import os
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import optax

from gan_jax.errors import UserError

__all__ = ["unroll_updates", "unroll_memory_bytes", "available_memory_bytes", "check_unroll"]

Params = Any

# Per unrolled step the backward pass keeps the parameters, the gradient and
# the two Adam moments (4 copies of the parameters), and the forward
# activations of the real and the fake batch with their pre-activations.
_PARAM_COPIES_PER_STEP = 4
_ACTIVATION_COPIES_PER_STEP = 4
# Refuse an unroll that would need more than this share of the memory.
_MEMORY_SHARE = 0.5


def unroll_updates(loss_fn: Callable[[Params, Any], jax.Array], params: Params,
                   opt_state: optax.OptState, tx: optax.GradientTransformation,
                   xs: Any, stop_gradient: bool = False) -> Params:
    """k optimiser updates of ``params`` on ``loss_fn``, as one (fully unrolled) ``lax.scan``.

    theta^{t+1} = optax.apply_updates(theta^t, tx.update(grad_theta loss_fn(theta^t, x_t),
    s^t, theta^t)), with s^t the optimiser state; k = leading size of ``xs``.

    Differentiable: the result depends on whatever ``loss_fn`` closes over
    (the generator's parameters in the unrolled GAN), and ``jax.grad``
    through it follows all k updates (Metz et al. 2016, eq. 6). With
    ``stop_gradient`` the result is a constant for autodiff (their
    first-order variant).

    Args:
      loss_fn: ``(params, x_t) -> scalar``.
      params: initial parameters theta^0 (any pytree).
      opt_state: ``tx``'s state for ``params``.
      tx: the optax transformation (the one that really trains these params).
      xs: per-step inputs, a pytree with leading axis k (e.g. ``(k, 2)`` keys).
      stop_gradient: cut the gradient through the updates.

    Returns:
      theta^k, the parameters after k updates (same pytree as ``params``).
    """
    def step(carry, x):
        p, s = carry
        grads = jax.grad(loss_fn)(p, x)
        updates, s = tx.update(grads, s, p)
        return (optax.apply_updates(p, updates), s), None

    # unroll=True lays the k updates out as straight-line code: XLA:CPU runs
    # convolutions inside a while loop several times slower (measured 3.6x
    # for the digits DCGAN at k=5), and the memory of the backward pass is
    # the same either way.
    (final, _), _ = jax.lax.scan(step, (params, opt_state), xs, unroll=True)
    return jax.lax.stop_gradient(final) if stop_gradient else final


def _tree_bytes(tree) -> int:
    return sum(math.prod(x.shape) * jnp.dtype(x.dtype).itemsize for x in jax.tree.leaves(tree))


def unroll_memory_bytes(discriminator, d_params: Params, batch_shape, steps: int,
                        d_batch_stats: Optional[Params] = None) -> int:
    """Estimated bytes kept for the backward pass of a k-step unroll.

    bytes ~= k * (4 |theta_D| + 4 * 2 * |activations of D on one batch|):
    parameters, gradient and two Adam moments per step, and the activations
    of the real and the fake batch. The activations come from
    ``jax.eval_shape`` with Flax's ``capture_intermediates``, so nothing is
    compiled or run.

    Args:
      discriminator: the Flax module D.
      d_params: its parameters.
      batch_shape: ``(B, ...)``, the shape of one real batch.
      steps: k.
      d_batch_stats: its batch statistics, for models with batch norm.
    """
    x = jax.ShapeDtypeStruct(tuple(batch_shape), jnp.float32)
    variables = {"params": d_params}
    if d_batch_stats:
        variables["batch_stats"] = d_batch_stats

    def forward(variables, inputs):
        return discriminator.apply(variables, inputs, train=False,
                                   capture_intermediates=True, mutable=["intermediates"])

    _, mutated = jax.eval_shape(forward, variables, x)
    inter = mutated["intermediates"]
    per_step = (_PARAM_COPIES_PER_STEP * _tree_bytes(d_params)
                + _ACTIVATION_COPIES_PER_STEP * 2 * _tree_bytes(inter))
    return steps * per_step


def available_memory_bytes() -> Optional[int]:
    """Memory of the default device: the accelerator's limit, else the host's RAM.

    None when neither can be read. Reads the machine, so it belongs to the
    shell (called when a run is built), not to a jitted step.
    """
    stats = jax.local_devices()[0].memory_stats() or {}
    if "bytes_limit" in stats:
        return int(stats["bytes_limit"])
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_unroll(steps: int, needed_bytes: Optional[int] = None,
                 available_bytes: Optional[int] = None) -> None:
    """Raise :class:`UserError` for a negative k or an unroll that will not fit.

    An unroll fits when ``needed_bytes`` <= half of ``available_bytes`` (the
    rest is left to the models, the data and XLA's buffers). Either size may
    be None (unknown), and then only the sign of k is checked.
    """
    if steps < 0:
        raise UserError(f"unroll_steps must be 0 (ordinary GAN) or positive, got {steps}")
    if needed_bytes is None or available_bytes is None:
        return
    if needed_bytes > _MEMORY_SHARE * available_bytes:
        per_step = needed_bytes / max(steps, 1)
        max_steps = int(_MEMORY_SHARE * available_bytes // per_step)
        raise UserError(
            f"unroll_steps={steps} needs about {needed_bytes / 2**30:.1f} GiB for the backward pass "
            f"but only {available_bytes / 2**30:.1f} GiB is available; use unroll_steps<={max_steps}, "
            "a smaller batch_size or discriminator, or unroll_stop_gradient=true")
