"""Two-player games made runnable: the bilinear game f(x, y) = x y and a 1-D
Gaussian GAN trained with simultaneous or alternating updates (the Dirac-GAN,
the smallest real GAN with the xy game's eigenvalues, is :mod:`gan_jax.theory.dirac`).

The bilinear game (Goodfellow 2016, NIPS tutorial section 8.2; the seeds'
lecture notes): x minimises f(x, y) = x y, y maximises it, and the unique Nash
equilibrium is (0, 0). Write v = (x, y) and the game's vector field
F(v) = (df/dx, -df/dy) = (y, -x) = A v with A = [[0, 1], [-1, 0]]; every
method below moves v against F. What theory says each method does here (each
is checked by tests/test_theory_games.py against these closed forms):

- ``simultaneous``: v' = v - lr F(v) = (I - lr A) v. I - lr A is sqrt(1+lr^2)
  times a rotation, so ||v|| grows by exactly sqrt(1 + lr^2) per step: an
  outward spiral.
- ``alternating``: x' = x - lr y, then y' = y + lr x'. The step matrix has
  determinant 1 and trace 2 - lr^2, so for lr < 2 it is a rotation in a skewed
  metric: the orbit is bounded and x^2 + y^2 - lr x y is conserved exactly.
- ``optimistic`` (optimistic gradient descent-ascent, Daskalakis et al.
  2018): v_{t+1} = v_t - 2 lr F(v_t) + lr F(v_{t-1}) with v_{-1} = v_0. In
  complex form w = x + i y, F = -i w and w_{t+1} = (1 + 2i lr) w_t - i lr w_{t-1},
  so w_t = a r1^t + b r2^t with r1, r2 the roots of
  r^2 - (1 + 2i lr) r + i lr = 0; it converges when both ``|r| < 1`` (small lr).
- ``extragradient`` (Korpelevich 1976): v_half = v - lr F(v),
  v' = v - lr F(v_half) = ((1 - lr^2) I - lr A) v, so ||v|| shrinks by exactly
  sqrt(1 - lr^2 + lr^4) per step (converges for 0 < lr < 1).
- ``consensus`` (consensus optimisation, Mescheder et al. 2017):
  v' = v - lr (F(v) + gamma grad 1/2 ||F(v)||^2) = ((1 - lr gamma) I - lr A) v,
  so ||v|| is multiplied by exactly sqrt((1 - lr gamma)^2 + lr^2) per step.

Averaging the iterates (:func:`average_iterates`; Yazici et al. 2019 for GANs)
changes no update, only what is reported. For alternating steps, v_t = M^t v_0
with M = [[1, -lr], [lr, 1 - lr^2]] (:func:`alternating_matrix`), whose
eigenvalues are exp(+-i theta), cos theta = 1 - lr^2 / 2:

- the uniform average a_T = (1 / (T + 1)) sum_{t<=T} v_t
  = (I - M)^{-1} (I - M^{T+1}) v_0 / (T + 1) converges to the equilibrium at
  rate 1 / T: ||a_T|| <= ||(I - M)^{-1}|| (||v_0|| + max_t ||v_t||) / (T + 1),
  with (I - M)^{-1} = [[1, -1/lr], [1/lr, 0]] (:func:`uniform_average_closed_form`);
- the exponential average e_T = beta e_{T-1} + (1 - beta) v_T, e_0 = v_0,
  equals beta^T v_0 + (1 - beta) (M - beta I)^{-1} (M^{T+1} - beta^T M) v_0
  (:func:`exponential_average_closed_form`, which like the uniform one takes M). It does not converge: once beta^T
  is small it circles on an orbit shrunk by the factor
  ``rho = (1 - beta) / |exp(i theta) - beta|`` (:func:`exponential_average_factor`),
  measured in the conserved quadratic form x^2 + y^2 - lr x y; rho is about
  (1 - beta) / lr for beta near 1, so a long average shrinks the oscillation a lot
  without removing it.

Simultaneous steps spiral out, and so does their average.
"""

import functools
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np

from gan_jax.core.state import Batch, GANState, apply_generator, sample_latent
from gan_jax.core.steps import train_step

__all__ = ["BILINEAR_METHODS", "bilinear_field", "simulate_bilinear",
           "simulate_bilinear_batch", "train_gaussian_gan", "average_iterates", "alternating_matrix",
           "uniform_average_closed_form", "exponential_average_closed_form", "exponential_average_factor"]

#: The update rules :func:`simulate_bilinear` knows.
BILINEAR_METHODS = ("simultaneous", "alternating", "optimistic", "extragradient", "consensus")


def bilinear_field(v: jax.Array) -> jax.Array:
    """F(v) = (df/dx, -df/dy) = (y, -x) for f(x, y) = x y; ``v``: ``(..., 2)``."""
    return jnp.stack([v[..., 1], -v[..., 0]], axis=-1)


def _check(method, lr, steps):
    if method not in BILINEAR_METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {', '.join(BILINEAR_METHODS)}")
    if not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    if not isinstance(lr, jax.core.Tracer) and not float(lr) > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")


@functools.partial(jax.jit, static_argnames=("method", "steps"))
def _simulate(method, x0, y0, lr, steps, gamma):
    v0 = jnp.stack([jnp.asarray(x0, jnp.float32), jnp.asarray(y0, jnp.float32)])

    def step(carry, _):
        v, prev_field = carry
        field = bilinear_field(v)
        if method == "simultaneous":
            new_v = v - lr * field
        elif method == "alternating":
            x = v[0] - lr * v[1]
            new_v = jnp.stack([x, v[1] + lr * x])
        elif method == "optimistic":
            new_v = v - 2.0 * lr * field + lr * prev_field
        elif method == "extragradient":
            new_v = v - lr * bilinear_field(v - lr * field)
        else:
            # grad of 1/2 ||F(v)||^2 = 1/2 (x^2 + y^2) is v itself.
            new_v = v - lr * (field + gamma * v)
        return (new_v, field), new_v

    _, path = jax.lax.scan(step, (v0, bilinear_field(v0)), None, length=steps)
    return jnp.concatenate([v0[None], path], axis=0)


def simulate_bilinear(method: str, x0, y0, lr, steps: int, gamma: float = 1.0) -> jax.Array:
    """Trajectory of a method on the bilinear game f(x, y) = x y.

    Args:
      method: one of :data:`BILINEAR_METHODS` (see the module docstring for
        what theory says each does).
      x0, y0: starting point (scalars).
      lr: learning rate, > 0.
      steps: number of updates, > 0.
      gamma: weight of the consensus term (``consensus`` only).

    Returns:
      ``(steps + 1, 2)`` float32: row t is (x_t, y_t), row 0 the start.
    """
    _check(method, lr, steps)
    return _simulate(method, x0, y0, lr, steps, gamma)


def simulate_bilinear_batch(method: str, x0, y0, lr, steps: int, gamma: float = 1.0) -> jax.Array:
    """:func:`simulate_bilinear` vmapped over starting points and learning rates.

    ``x0``, ``y0``, ``lr``: ``(N,)`` (or broadcastable to it). Returns
    ``(N, steps + 1, 2)``.
    """
    x0, y0, lr = jnp.broadcast_arrays(jnp.asarray(x0, jnp.float32), jnp.asarray(y0, jnp.float32),
                                      jnp.asarray(lr, jnp.float32))
    _check(method, 1.0, steps)
    if not bool(jnp.all(lr > 0)):
        raise ValueError(f"every lr must be > 0, got min {float(jnp.min(lr))}")
    run = jax.vmap(lambda a, b, c: _simulate(method, a, b, c, steps, gamma))
    return run(jnp.ravel(x0), jnp.ravel(y0), jnp.ravel(lr))


def average_iterates(path, decay: Optional[float] = None) -> np.ndarray:
    """Running averages of a trajectory ``path`` ``(T + 1, d)`` (row 0 the start), in float64.

    ``decay`` None: the uniform average, row t = mean of rows 0..t. Otherwise the
    exponential moving average e_t = decay e_{t-1} + (1 - decay) v_t with e_0 = v_0
    (``0 <= decay < 1``; 0 returns the path). Returns ``(T + 1, d)``.
    """
    path = np.asarray(path, np.float64)
    if path.ndim != 2 or len(path) == 0:
        raise ValueError(f"path must be (T + 1, d) with T >= 0, got shape {path.shape}")
    if decay is None:
        return np.cumsum(path, axis=0) / np.arange(1, len(path) + 1)[:, None]
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"decay must be in [0, 1), got {decay}")
    out = np.empty_like(path)
    out[0] = path[0]
    for t in range(1, len(path)):
        out[t] = decay * out[t - 1] + (1.0 - decay) * path[t]
    return out


def alternating_matrix(lr: float, maximiser_first: bool = False) -> np.ndarray:
    """M with v_{t+1} = M v_t for alternating steps on x y: ``[[1, -lr], [lr, 1 - lr^2]]`` when x
    moves first (:func:`simulate_bilinear`), ``[[1 - lr^2, -lr], [lr, 1]]`` when y does (as the
    discriminator does in a GAN's step). Both have trace 2 - lr^2 and determinant 1."""
    if maximiser_first:
        return np.array([[1.0 - lr * lr, -lr], [lr, 1.0]])
    return np.array([[1.0, -lr], [lr, 1.0 - lr * lr]])


def _powers(matrix: np.ndarray, steps: int) -> np.ndarray:
    """``(steps + 1, 2, 2)``: matrix^0 .. matrix^steps."""
    out = np.empty((steps + 1, 2, 2))
    out[0] = np.eye(2)
    for t in range(steps):
        out[t + 1] = matrix @ out[t]
    return out


def uniform_average_closed_form(matrix, start, steps: int) -> np.ndarray:
    """``(steps + 1, 2)``: a_T = (I - M)^{-1} (I - M^{T+1}) v_0 / (T + 1) for T = 0..steps, the
    uniform average of the iterates v_t = M^t ``start`` of the step ``matrix`` M (I - M invertible;
    :func:`alternating_matrix` for alternating steps; see the module docstring)."""
    m = np.asarray(matrix, np.float64)
    inverse = np.linalg.inv(np.eye(2) - m)
    v0 = np.asarray(start, np.float64)
    powers = _powers(m, steps + 1)[1:]                      # M^1 .. M^{steps+1}
    return np.stack([inverse @ (v0 - p @ v0) / (t + 1) for t, p in enumerate(powers)])


def exponential_average_closed_form(matrix, decay: float, start, steps: int) -> np.ndarray:
    """``(steps + 1, 2)``: e_T = beta^T v_0 + (1 - beta) (M - beta I)^{-1} (M^{T+1} - beta^T M) v_0,
    the exponential average (beta = ``decay``) of the iterates M^t ``start`` of the step ``matrix``."""
    m = np.asarray(matrix, np.float64)
    inverse = np.linalg.inv(m - decay * np.eye(2))
    v0 = np.asarray(start, np.float64)
    powers = _powers(m, steps + 1)
    return np.stack([decay ** t * v0 + (1 - decay) * inverse @ (powers[t + 1] - decay ** t * m) @ v0
                     for t in range(steps + 1)])


def exponential_average_factor(lr: float, decay: float) -> float:
    """``rho = (1 - beta) / |exp(i theta) - beta|``, cos theta = 1 - lr^2 / 2: how much the exponential
    average (beta = ``decay``) of alternating steps shrinks their orbit, in the conserved form."""
    cos_theta = 1.0 - lr * lr / 2.0
    return (1.0 - decay) / float(np.sqrt(1.0 - 2.0 * decay * cos_theta + decay * decay))


@functools.partial(jax.jit, static_argnames=("steps", "batch_size"))
def train_gaussian_gan(state: GANState, key: jax.Array, steps: int, batch_size: int,
                       real_mean: float, real_std: float):
    """Train a 1-D GAN on N(real_mean, real_std^2) with :func:`gan_jax.core.steps.train_step`, k = 1.

    The update order is the state's: simultaneous when
    ``state.objective.simultaneous`` (G steps from the state before D's step),
    else alternating. Real batches ``(batch_size, 1)``.

    Returns:
      ``(state, trace)``; trace holds ``(steps,)`` arrays ``d_real`` (mean D(x)),
      ``d_fake`` (mean D(G(z))) and ``g_mean`` (mean of G(z) over a fixed
      latent batch, after the step).
    """
    probe_z = sample_latent(jax.random.PRNGKey(0), 1024, state.latent_dim, state.latent_dist)

    def body(s, step_key):
        real_key, update_key = jax.random.split(step_key)
        real = real_mean + real_std * jax.random.normal(real_key, (batch_size, 1))
        s, metrics = train_step(s, Batch(real[None]), update_key)
        g_mean = jnp.mean(apply_generator(s, s.g_params, probe_z, train=False)[0])
        return s, {"d_real": metrics["d_real"], "d_fake": metrics["d_fake"], "g_mean": g_mean}

    return jax.lax.scan(body, state, jax.random.split(key, steps))
