"""GAN theory on tabulated densities: the optimal discriminator, KL and JS
divergences and the GAN value function.

Source: Goodfellow et al. 2014, "Generative Adversarial Nets", Proposition 1
(D*(x) = p_r(x) / (p_r(x) + p_g(x))) and Theorem 1
(L(D*, G) = -2 log 2 + 2 JS(p_r || p_g)); the seeds' lecture notes.

Densities are 1-D arrays ``(N,)`` of values on a sorted grid ``x`` ``(N,)``;
integrals use the trapezoid rule. Given concrete arrays, each density is
checked to be non-negative and to integrate to about 1 (a ValueError
naming which density, not a silent NaN); under ``jax.jit`` the checks are
skipped because the values are not known at trace time.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.core import losses
from gan_jax.core.state import Batch, GANState
from gan_jax.core.steps import d_step

__all__ = ["gaussian_pdf", "optimal_discriminator", "kl_divergence", "js_divergence",
           "value_function", "ShiftGenerator", "fit_discriminator", "generator_gradients"]

# A density that integrates to 1 +- this on the grid counts as normalised; wider
# misses mean the grid cuts off mass or the array is not a density.
_MASS_TOLERANCE = 1e-2


def gaussian_pdf(x: jax.Array, mean=0.0, std=1.0) -> jax.Array:
    """N(mean, std^2) density exp(-(x - mean)^2 / (2 std^2)) / (std sqrt(2 pi)), shape of ``x``."""
    return jnp.exp(-0.5 * ((x - mean) / std) ** 2) / (std * jnp.sqrt(2.0 * jnp.pi))


def _concrete(*arrays):
    return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def _check_density(name, p, x):
    if not _concrete(p, x):
        return
    p_np, x_np = np.asarray(p, np.float64), np.asarray(x, np.float64)
    if p_np.shape != x_np.shape:
        raise ValueError(f"density {name} has shape {p_np.shape} but the grid x has {x_np.shape}: tabulate it on x")
    if np.any(p_np < 0):
        raise ValueError(f"density {name} has negative values (min {p_np.min():.3g}): densities must be >= 0")
    mass = np.trapezoid(p_np, x_np)
    if abs(mass - 1.0) > _MASS_TOLERANCE:
        raise ValueError(f"density {name} integrates to {mass:.4g}, not 1: normalise it or widen the grid")


def _trapezoid(y, x):
    return jnp.sum(0.5 * (y[1:] + y[:-1]) * jnp.diff(x))


def optimal_discriminator(p_r: jax.Array, p_g: jax.Array) -> jax.Array:
    """D*(x) = p_r(x) / (p_r(x) + p_g(x)) on density values (Goodfellow et al. 2014, Prop. 1).

    Shapes: ``p_r``, ``p_g`` any matching shape; returns the same shape. Where
    both densities are 0 D* is undefined; 1/2 is returned (either choice leaves
    the value function unchanged there).
    """
    total = p_r + p_g
    return jnp.where(total > 0, p_r / jnp.where(total > 0, total, 1.0), 0.5)


def _xlogy_ratio(p, q):
    """p log(p / q) with 0 log(0 / q) = 0 and p log(p / 0) = inf for p > 0."""
    safe_p = jnp.where(p > 0, p, 1.0)
    safe_q = jnp.where(q > 0, q, 1.0)
    term = jnp.where(p > 0, p * (jnp.log(safe_p) - jnp.log(safe_q)), 0.0)
    return jnp.where((p > 0) & (q <= 0), jnp.inf, term)


def kl_divergence(p: jax.Array, q: jax.Array, x: jax.Array, base=None) -> jax.Array:
    """KL(p || q) = integral p(x) log(p(x) / q(x)) dx (trapezoid rule on ``x``).

    Args:
      p, q: densities ``(N,)`` on the grid ``x`` ``(N,)``.
      base: None for nats (natural log), 2 for bits.

    Returns:
      Scalar >= 0; inf where q = 0 but p > 0.
    """
    _check_density("p", p, x)
    _check_density("q", q, x)
    kl = _trapezoid(_xlogy_ratio(p, q), x)
    return kl if base is None else kl / jnp.log(base)


def js_divergence(p: jax.Array, q: jax.Array, x: jax.Array, base=None) -> jax.Array:
    """JS(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m) with m = (p + q) / 2.

    Always finite: 0 <= JS <= log 2 nats, i.e. 0 <= JS <= 1 with ``base=2``.
    Shapes as in :func:`kl_divergence`.
    """
    _check_density("p", p, x)
    _check_density("q", q, x)
    # p log(p / m) = p (log 2p - log(p + q)): p + q >= p, so no 0/0 where m underflows.
    total = p + q
    safe_total = jnp.where(total > 0, total, 1.0)
    def half(a):
        safe_a = jnp.where(a > 0, a, 1.0)
        return jnp.where(a > 0, a * (jnp.log(2.0 * safe_a) - jnp.log(safe_total)), 0.0)
    js = 0.5 * _trapezoid(half(p) + half(q), x)
    return js if base is None else js / jnp.log(base)


def value_function(p_r: jax.Array, p_g: jax.Array, d: jax.Array, x: jax.Array) -> jax.Array:
    """GAN value L(D, G) = integral p_r log D + p_g log(1 - D) dx (Goodfellow et al. 2014, eq. 1).

    Args:
      p_r, p_g: real and generator densities ``(N,)`` on ``x`` ``(N,)``.
      d: discriminator probabilities D(x) in [0, 1], ``(N,)``.

    Returns:
      Scalar; at D = D* it equals -2 log 2 + 2 JS(p_r || p_g) (Theorem 1).
    """
    _check_density("p_r", p_r, x)
    _check_density("p_g", p_g, x)
    # 0 log 0 = 0: where a density vanishes its term contributes nothing.
    real = jnp.where(p_r > 0, p_r * jnp.log(jnp.where(p_r > 0, d, 1.0)), 0.0)
    fake = jnp.where(p_g > 0, p_g * jnp.log(jnp.where(p_g > 0, 1.0 - d, 1.0)), 0.0)
    return _trapezoid(real + fake, x)


class ShiftGenerator(nn.Module):
    """G(z) = z + b with one parameter b initialised to ``shift``: ``(B, 1) -> (B, 1)``.

    With z ~ N(0, 1) it makes p_g = N(b, 1) exactly; with a zero-learning-rate
    optimiser (``optax.sgd(0.0)``) it is a fixed generator against which a
    discriminator can be trained by :func:`gan_jax.core.steps.d_step`.
    """
    shift: float = 1.0

    @nn.compact
    def __call__(self, z, train: bool = True):
        b = self.param("shift", lambda _: jnp.asarray(self.shift, jnp.float32))
        return z + b


def fit_discriminator(state: GANState, key: jax.Array, steps: int, batch_size: int,
                      real_mean: float = 0.0, real_std: float = 1.0):
    """Train D alone for ``steps`` :func:`gan_jax.core.steps.d_step` updates on
    1-D real samples N(real_mean, real_std^2) ``(batch_size, 1)``; G is untouched.

    Returns ``(state, d_losses (steps,))``. With enough capacity and steps,
    sigmoid(D) approaches D* = p_r / (p_r + p_g) (Goodfellow et al. 2014, Prop. 1).
    """
    def body(s, step_key):
        real_key, d_key = jax.random.split(step_key)
        real = real_mean + real_std * jax.random.normal(real_key, (batch_size, 1))
        s, metrics = d_step(s, Batch(real), d_key)
        return s, metrics["d_loss"]

    return jax.lax.scan(body, state, jax.random.split(key, steps))


def generator_gradients(logit_fn, x: jax.Array, loss_names=("saturating", "nonsaturating",
                                                            "maximum_likelihood")) -> dict:
    """Per-sample gradient d J(G) / d x of each generator cost at generated points x.

    Args:
      logit_fn: maps ``(B, 1)`` samples to discriminator logits ``(B,)``.
      x: ``(N,)`` generated 1-D samples.
      loss_names: keys of :data:`gan_jax.core.losses.G_LOSSES`.

    Returns:
      ``{name: (N,)}``. With l = logit and D = sigmoid(l): saturating
      1/2 log(1 - D) gives -1/2 D l'(x), which vanishes where D ~ 0 (the
      saturation problem, Goodfellow 2016 section 3.2.3); non-saturating
      -1/2 log D gives -1/2 (1 - D) l'(x); maximum likelihood -1/2 exp(l)
      gives -1/2 exp(l) l'(x).
    """
    def one(name):
        def cost(xi):
            return losses.G_LOSSES[name](logit_fn(xi.reshape(1, 1)))
        return jax.vmap(jax.grad(cost))(x)

    return {name: one(name) for name in loss_names}
