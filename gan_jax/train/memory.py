"""Memory estimates made before anything is compiled, and the refusals they lead to (shell).

A training that cannot fit is refused in one line naming the estimate and the
limit, before XLA compiles it. Estimates use ``jax.eval_shape`` (nothing runs);
the limit is read from the device (an accelerator's ``bytes_limit``) or the
host (physical memory).
"""

import math
import os
from typing import Any, Optional

import jax
import jax.numpy as jnp

from gan_jax.config.build import batches_per_step, data_shape
from gan_jax.config.schema import Config
from gan_jax.core.state import GANState
from gan_jax.errors import UserError

__all__ = ["unroll_memory_bytes", "available_memory_bytes", "check_unroll", "sweep_memory_bytes",
           "check_sweep_memory", "check_training_memory"]

Params = Any

# Per unrolled step the backward pass keeps the parameters, the gradient and
# the two Adam moments (4 copies of the parameters), and the forward
# activations of the real and the fake batch with their pre-activations.
_PARAM_COPIES_PER_STEP = 4
_ACTIVATION_COPIES_PER_STEP = 4
# Refuse an unroll that would need more than this share of the memory.
_MEMORY_SHARE = 0.5


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
    per_step = (_PARAM_COPIES_PER_STEP * _tree_bytes(d_params)
                + _ACTIVATION_COPIES_PER_STEP * 2 * _activation_bytes(discriminator, d_params, d_batch_stats,
                                                                      batch_shape))
    return steps * per_step


def _activation_bytes(discriminator, d_params: Params, d_batch_stats: Optional[Params], batch_shape) -> int:
    """Bytes of D's intermediate activations on one batch ``batch_shape``, from ``jax.eval_shape``
    with Flax's ``capture_intermediates`` (nothing is compiled or run)."""
    x = jax.ShapeDtypeStruct(tuple(batch_shape), jnp.float32)
    variables = {"params": d_params}
    if d_batch_stats:
        variables["batch_stats"] = d_batch_stats

    def forward(variables, inputs):
        return discriminator.apply(variables, inputs, train=False,
                                   capture_intermediates=True, mutable=["intermediates"])

    _, mutated = jax.eval_shape(forward, variables, x)
    return _tree_bytes(mutated["intermediates"])


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


def sweep_memory_bytes(config: Config, template: GANState, members: int) -> int:
    """Estimated device bytes of a sweep of ``members`` runs of ``config``, before compiling.

    bytes ~= N * (4 |state| + T k |batch| + 2 (k + 1) |activations of D on one batch|):
    the state, its new value, the gradients and a copy kept by the divergence check;
    a chunk of real batches; D's activations (``jax.eval_shape``, nothing runs) kept for the
    backward pass of each D step and of the G step, for the real and the fake batch.
    """
    batch_shape = (config.batch_size,) + tuple(data_shape(config))
    k = batches_per_step(config)
    state_bytes = _tree_bytes(template)
    batch_bytes = math.prod(batch_shape) * 4
    activations = _d_activation_bytes(template, batch_shape)
    per_member = 4 * state_bytes + config.steps_per_call * k * batch_bytes + 2 * (k + 1) * 2 * activations
    return members * per_member


def _d_activation_bytes(template: GANState, batch_shape) -> int:
    try:
        return _activation_bytes(template.discriminator, template.d_params, template.d_batch_stats, batch_shape)
    except Exception:   # a conditional D needs labels: estimate from the batch alone
        return 8 * math.prod(batch_shape) * 4


def check_sweep_memory(config: Config, template: GANState, members: int,
                       available_bytes: Optional[int]) -> None:
    """UserError when a sweep of ``members`` runs would not fit in half of ``available_bytes``
    (the rest is left to XLA's buffers); nothing is checked when the memory is unknown."""
    if available_bytes is None or members <= 1:
        return
    needed = sweep_memory_bytes(config, template, members)
    if needed > 0.5 * available_bytes:
        fits = max(1, int(0.5 * available_bytes // (needed / members)))
        raise UserError(f"a sweep of {members} seeds needs about {needed / 2**30:.1f} GiB but only "
                        f"{available_bytes / 2**30:.1f} GiB is available; use at most {fits} seeds, "
                        f"a smaller batch_size or steps_per_call")


def check_training_memory(config: Config, template: GANState, members: int = 1,
                          available_bytes: Optional[int] = None) -> None:
    """Refuse (UserError) a training of ``members`` runs of ``config`` that cannot fit:
    an unroll's backward pass (:func:`check_unroll`) and a sweep (:func:`check_sweep_memory`).
    ``available_bytes`` defaults to :func:`available_memory_bytes`."""
    available = available_memory_bytes() if available_bytes is None else available_bytes
    if config.unroll_steps and not config.unroll_stop_gradient:
        needed = unroll_memory_bytes(template.discriminator, template.d_params,
                                     (config.batch_size,) + data_shape(config), config.unroll_steps,
                                     template.d_batch_stats)
        check_unroll(config.unroll_steps, needed, available)
    check_sweep_memory(config, template, members, available if members > 1 else None)
