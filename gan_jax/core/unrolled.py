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
optimiser, as one ``lax.scan``; :mod:`gan_jax.core.state` calls it inside the
generator loss.

Backpropagating through the scan keeps every step's parameters, optimiser
state and activations, so memory grows linearly in k; the training shell
estimates it before anything is compiled (:mod:`gan_jax.train.memory`).
"""

from typing import Any, Callable

import jax
import optax

__all__ = ["unroll_updates"]

Params = Any

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
