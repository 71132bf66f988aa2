"""The Dirac-GAN lab: the smallest GAN that does not converge, trained by the library itself.

Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do
actually Converge?" (ICML), section 2: the data distribution is a point mass
at 0, the generator a point mass at theta, the discriminator linear,
D_psi(x) = psi x. The unique equilibrium is (theta, psi) = (0, 0).

The library's convention. D's logit is high on real data and the BCE losses
carry the tutorial's factor 1/2 (:mod:`gan_jax.core.losses`), so with f = log sigmoid
the discriminator maximises 1/2 f(0) + 1/2 f(-psi theta), the paper's
L(theta, psi) = f(psi theta) + f(0) with psi -> -psi and halved. Gradient
descent on both players moves (theta, psi) along the field

    v(theta, psi) = (-d L_G / d theta, -d L_D / d psi)
                  = (a(psi theta) psi, -a(psi theta) theta),

with a(t) = sigmoid(t) / 2 for BCE (a(0) = f'(0) / 2 = 1/4: the paper's f'(0)
= 1/2 halved) and a = 1 for WGAN (f(t) = t). Its Jacobian at the equilibrium,
[[0, a], [-a, 0]] with a = a(0), has the purely imaginary eigenvalues +-i a:
the bilinear game xy (:mod:`gan_jax.theory.games`) in disguise. Below, a = a(0);
the tests check every formula here against jacfwd of the real update.

One update of the lab is the library's :func:`gan_jax.core.steps.train_step`
(k D steps then one G step, ``optax.sgd`` with step h for both players, or
h_D for D), with the generator and discriminator below as its Flax modules,
in float64 (``jax.enable_x64`` scoped to each lab call, never global). Its
Jacobian M at the equilibrium decides local convergence: spectral radius
rho(M) < 1 - 1e-9 converges, ``|rho - 1| <= 1e-9`` is neutral (a bounded
oscillation, not convergence), above diverges. The update matrices (state
(theta, psi), x = h^2 a^2):

- simultaneous, no regulariser: M = I + h J, eigenvalues 1 +- i h a,
  rho = sqrt(1 + x) > 1 for every h: diverges (paper, section 2).
- alternating (D first, then G at the new psi): psi' = psi - h a theta,
  theta' = theta + h a psi', M = [[1 - x, h a], [-h a, 1]]: det 1, trace
  2 - x, so ``|eigenvalues| = 1`` for h a < 2 (neutral; paper, section 2) and a
  real eigenvalue below -1 for h a > 2 (diverges).
- the non-saturating generator cost -1/2 f(psi theta) has the same Jacobian at
  the equilibrium (d/d psi of its theta-gradient is -a there too).
- WGAN with weight clipping: a = 1; the clip is inactive at psi = 0, so the
  update matrix is the unclipped one (k D steps, below): neutral for small h.
- WGAN-GP: its penalty ``lambda (|psi| - 1)^2`` is not differentiable at psi = 0;
  the library smooths ``|psi|`` as sqrt(psi^2 + 1e-12), whose curvature there
  (-2 lambda / 1e-6) is an artefact, so WGAN-GP is judged by its trajectory
  alone (the paper: it does not converge).
- R1 or R2 of weight gamma: D also minimises (gamma / 2) psi^2 (the input
  gradient of psi x is psi on real and fake data alike), J = [[0, a],
  [-a, -gamma]] with eigenvalues (-gamma +- sqrt(gamma^2 - 4 a^2)) / 2
  (paper, section 3); simultaneous M = I + h J, alternating
  M = [[1 - x, h a (1 - h gamma)], [-h a, 1 - h gamma]] with det 1 - h gamma:
  converges for small h.
- instance noise of std sigma on every input of D: the curvature of D's loss
  in psi becomes E[eps_real^2 + eps_fake^2] / 8 = sigma^2 / 4, i.e. R1 with
  gamma = sigma^2 / 4; eigenvalues -sigma^2/8 +- sqrt(sigma^4/64 - a^2) (the
  paper's f''(0) sigma^2 +- sqrt(f''(0)^2 sigma^4 - f'(0)^2), halved). The
  noise is drawn afresh each step, so the Jacobian is that of one draw
  (4,096 noise samples per batch: the mean of eps^2 is within a few per cent of
  sigma^2).
- consensus optimisation of weight gamma: both players add (gamma / 2)
  ||v||^2 = (gamma / 2) a^2 (theta^2 + psi^2) near 0, J = [[-gamma a^2, a],
  [-a, -gamma a^2]], eigenvalues -gamma a^2 +- i a (paper, section 3):
  converges for small h.

- RpGAN + R1 + R2 (Huang et al. 2024, whose R3GAN loss this is; they prove
  local convergence of RpGAN with R1 or R2): D minimises softplus(D(G(z)) -
  D(x)) and G softplus(D(x) - D(G(z))). Here D(x) = psi 0 = 0 on the data, so
  L_D = softplus(psi theta) + ((gamma_1 + gamma_2) / 2) psi^2 and
  L_G = softplus(-psi theta): the non-saturating GAN without the factor 1/2,
  a = sigmoid(0) = 1/2, with R1 and R2 adding up to one penalty of weight
  g = gamma_1 + gamma_2. So J = [[0, a], [-a, -g]] and the alternating
  update is the R1 matrix above with gamma -> g: M = [[1 - x, h a (1 - h g)],
  [-h a, 1 - h g]], det 1 - h g, converging for small h; its update at step
  h equals the non-saturating GAN + R1 + R2's at step 2 h with weights
  gamma_i / 2 (the same losses, halved).

Methods the paper does not cover, derived the same way:

- k D steps per G step (alternating): psi_k = psi - k h a theta, then
  theta' = theta + h a psi_k: M = [[1 - k x, h a], [-k h a, 1]], det 1, trace
  2 - k x: neutral for k x < 4, diverges above. More D steps do not help.
- two time scales (D step h_D, G step h_G, alternating): M = [[1 - h_G h_D a^2,
  h_G a], [-h_D a, 1]], det 1: neutral for h_G h_D a^2 < 4, diverges above.
- unrolled GAN (k unrolled D steps, gradient through them, alternating): G
  minimises L_G(theta, psi_k(theta)) with psi_k = psi - k h a theta, and near 0
  L_G = const - a theta psi_k = const - a theta psi + k h a^2 theta^2, so G's
  step gains the pull -2 k h^2 a^2 theta towards 0:
  M = [[1 - (2k + 1) x, h a], [-h a, 1]], det 1 - 2 k x, trace
  2 - (2k + 1) x. By the Schur-Cohn conditions (``|det| < 1``, ``|trace| < 1 + det``)
  it converges exactly when 0 < x < 4 / (4k + 1), i.e. h < 2 / (a sqrt(4k + 1)),
  and diverges above.
"""

import dataclasses
import functools
from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_jax.core.objective import GANObjective
from gan_jax.core.state import Batch, GANState, create_state
from gan_jax.core.steps import train_step

__all__ = [
    "DiracGenerator", "DiracDiscriminator", "DiracMethod", "DIRAC_METHODS", "FIELD_SLOPE",
    "CONVERGES", "NEUTRAL", "DIVERGES", "RADIUS_TOLERANCE",
    "dirac_method", "check_run_settings", "dirac_state", "dirac_update", "update_jacobian",
    "update_displacements", "simulate_dirac", "spectral_radius", "local_verdict", "trajectory_verdict",
    "analyse_method",
]

#: The three verdicts on a method: converges, neutral (circles), diverges.
CONVERGES, NEUTRAL, DIVERGES = "converges", "neutral", "diverges"
#: A spectral radius within this of 1 is neutral.
RADIUS_TOLERANCE = 1e-9

#: The field's slope a = abs(d v_theta / d psi) at the equilibrium, per discriminator loss (see the module docstring).
FIELD_SLOPE = {"bce": 0.25, "wasserstein": 1.0, "rpgan": 0.5}
_G_LOSSES_BY_D_LOSS = {"bce": ("saturating", "nonsaturating"), "wasserstein": ("wasserstein",),
                       "rpgan": ("rpgan",)}


class DiracGenerator(nn.Module):
    """G_theta(z) = theta for every z: ``(B, latent_dim) -> (B, 1)``; one parameter."""
    theta0: float = 0.0

    @nn.compact
    def __call__(self, z, train: bool = True):
        theta = self.param("theta", lambda key: jnp.asarray(self.theta0, jnp.float64))
        return jnp.broadcast_to(theta, (z.shape[0], 1))


class DiracDiscriminator(nn.Module):
    """D_psi(x) = psi x, logits ``(B,)`` from ``(B, 1)``; one parameter.

    With ``return_features`` it also returns its input as the features.
    """
    psi0: float = 0.0

    @nn.compact
    def __call__(self, x, train: bool = True, return_features: bool = False):
        psi = self.param("psi", lambda key: jnp.asarray(self.psi0, jnp.float64))
        logits = psi * x[:, 0]
        return (logits, x) if return_features else logits


@dataclasses.dataclass(frozen=True)
class DiracMethod:
    """One training method of the lab.

    Attributes:
      objective: the library's objective (losses, penalties, update order).
      d_steps: k, D steps per G step (``train_step``'s real batches).
      lr_d_scale: D's step is ``lr_d_scale`` times G's.
      batch_size: samples per batch (all the same without instance noise).
      paper: the paper's verdict, ``"converges"`` or ``"does not converge"``
        (Mescheder et al. 2018; for RpGAN, Huang et al. 2024's claim); None
        where no paper covers the method (the module docstring derives the verdict).
      label: a short description for figures and tables.
    """
    objective: GANObjective
    d_steps: int = 1
    lr_d_scale: float = 1.0
    batch_size: int = 1
    paper: Optional[str] = None
    label: str = ""

    def __post_init__(self):
        allowed = _G_LOSSES_BY_D_LOSS.get(self.objective.d_loss)
        if allowed is None or self.objective.g_loss not in allowed:
            pairs = "; ".join(f"d_loss={d} with g_loss in {', '.join(g)}" for d, g in _G_LOSSES_BY_D_LOSS.items())
            raise ValueError(f"the Dirac-GAN lab has no closed form for d_loss={self.objective.d_loss!r}, "
                            f"g_loss={self.objective.g_loss!r}; use {pairs}")
        if self.d_steps < 1 or self.batch_size < 1 or not self.lr_d_scale > 0:
            raise ValueError(f"d_steps and batch_size must be >= 1 and lr_d_scale > 0, got {self.d_steps}, "
                            f"{self.batch_size}, {self.lr_d_scale}")

    @property
    def slope(self) -> float:
        """a = f'(0) in the library's convention (module docstring)."""
        return FIELD_SLOPE[self.objective.d_loss]


_NO = "does not converge"
_BCE = GANObjective("bce", "saturating")
_WGAN = GANObjective("wasserstein", "wasserstein")

#: The training methods by name: the paper's Figure 3 (alternating gradient descent) and section 3, plus the
#: simultaneous update (section 2) and the methods it does not cover.
DIRAC_METHODS = {
    "gan": DiracMethod(_BCE, paper=_NO, label="GAN (alternating)"),
    "gan_simultaneous": DiracMethod(dataclasses.replace(_BCE, simultaneous=True), paper=_NO,
                                    label="GAN (simultaneous)"),
    "nonsaturating": DiracMethod(GANObjective("bce", "nonsaturating"), paper=_NO, label="non-saturating GAN"),
    "wgan_clip": DiracMethod(dataclasses.replace(_WGAN, weight_clip=1.0), d_steps=5, paper=_NO,
                             label="WGAN, clip 1, 5 D steps"),
    "wgan_gp": DiracMethod(dataclasses.replace(_WGAN, gp_weight=1.0), d_steps=5, paper=_NO,
                           label="WGAN-GP, lambda 1, 5 D steps"),
    "r1": DiracMethod(dataclasses.replace(_BCE, r1_weight=1.0), paper=CONVERGES, label="R1, gamma 1"),
    "r2": DiracMethod(dataclasses.replace(_BCE, r2_weight=1.0), paper=CONVERGES, label="R2, gamma 1"),
    "instance_noise": DiracMethod(dataclasses.replace(_BCE, instance_noise=1.5), batch_size=4096,
                                  paper=CONVERGES, label="instance noise, sigma 1.5"),
    "consensus": DiracMethod(dataclasses.replace(_BCE, consensus_weight=4.0), paper=CONVERGES,
                             label="consensus, gamma 4"),
    "k_d_steps": DiracMethod(_BCE, d_steps=5, label="GAN, 5 D steps"),
    "two_time_scale": DiracMethod(_BCE, lr_d_scale=4.0, label="GAN, D step 4x G step"),
    "unrolled": DiracMethod(dataclasses.replace(_BCE, unroll_steps=5), label="unrolled GAN, k 5"),
    # gamma 0.5 each: the same penalty on psi as the r1 and r2 rows' gamma 1 (g = 1).
    "rpgan_r1_r2": DiracMethod(GANObjective("rpgan", "rpgan", r1_weight=0.5, r2_weight=0.5), paper=CONVERGES,
                               label="RpGAN + R1 + R2, gamma 0.5 each"),
}


def dirac_method(name: str) -> DiracMethod:
    """The method called ``name`` (a key of :data:`DIRAC_METHODS`), else a ValueError."""
    if name not in DIRAC_METHODS:
        raise ValueError(f"unknown Dirac-GAN method {name!r}; choose from {', '.join(DIRAC_METHODS)}")
    return DIRAC_METHODS[name]


def check_run_settings(lr, steps=None) -> None:
    """ValueError unless the step size ``lr`` is a positive number and ``steps``
    (when given) a positive integer."""
    if not (isinstance(lr, (int, float)) and lr > 0 and np.isfinite(lr)):
        raise ValueError(f"the step size must be a positive number, got {lr!r}")
    if steps is not None and (not isinstance(steps, int) or steps <= 0):
        raise ValueError(f"the number of steps must be a positive integer, got {steps!r}")


# Plain gradient descent whose step size lives in the optimiser state: one
# transformation for every step size, so a compiled update serves them all.
_SGD = optax.inject_hyperparams(optax.sgd)(learning_rate=1.0)


def _with_step(opt_state, lr):
    return opt_state._replace(hyperparams={**opt_state.hyperparams,
                                           "learning_rate": jnp.asarray(lr, jnp.float64)})


def dirac_state(method: DiracMethod, lr: float, theta: float = 0.0, psi: float = 0.0) -> GANState:
    """A GANState of the Dirac-GAN at (theta, psi), trained by ``optax.sgd``
    (G: step ``lr``, D: ``lr * method.lr_d_scale``). Call it under
    ``jax.enable_x64(True)``: the parameters are float64."""
    state = create_state(jax.random.PRNGKey(0), DiracGenerator(theta), DiracDiscriminator(psi),
                         _SGD, _SGD, latent_dim=1, data_shape=(1,), objective=method.objective)
    return state.replace(g_opt_state=_with_step(state.g_opt_state, lr),
                         d_opt_state=_with_step(state.d_opt_state, lr * method.lr_d_scale))


def _real_batches(method: DiracMethod) -> jax.Array:
    """``(k, B, 1)`` samples of the data distribution delta_0."""
    return jnp.zeros((method.d_steps, method.batch_size, 1), jnp.float64)


def dirac_update(state: GANState, method: DiracMethod, key: jax.Array) -> GANState:
    """One training update: ``train_step`` on k batches of the data delta_0."""
    return train_step(state, Batch(_real_batches(method)), key)[0]


def _point(state: GANState) -> jax.Array:
    return jnp.stack([state.g_params["theta"], state.d_params["psi"]])


@functools.partial(jax.jit, static_argnames=("method",))
def _jacobian_at_equilibrium(state, method, key):
    def update(v):
        moved = state.replace(g_params={"theta": v[0]}, d_params={"psi": v[1]})
        return _point(dirac_update(moved, method, key))
    return jax.jacfwd(update)(jnp.zeros(2, jnp.float64))


def update_jacobian(method: DiracMethod, lr: float, seed: int = 0) -> np.ndarray:
    """``(2, 2)`` float64: d(theta', psi') / d(theta, psi) of one training
    update at the equilibrium (0, 0), by ``jax.jacfwd`` through ``train_step``
    (the key ``PRNGKey(seed)`` draws the update's randomness)."""
    check_run_settings(lr)
    with jax.enable_x64(True):
        state = dirac_state(method, lr)
        return np.asarray(_jacobian_at_equilibrium(state, method, jax.random.PRNGKey(seed)))


@functools.partial(jax.jit, static_argnames=("method", "steps"))
def _trajectory(state, method, key, steps):
    def body(s, t):
        s = dirac_update(s, method, jax.random.fold_in(key, t))
        return s, _point(s)
    _, path = jax.lax.scan(body, state, jnp.arange(steps))
    return jnp.concatenate([_point(state)[None], path])


def simulate_dirac(method: DiracMethod, lr: float, start, steps: int, seed: int = 0) -> np.ndarray:
    """``(steps + 1, 2)`` float64: (theta_t, psi_t) of ``steps`` training
    updates from ``start`` = (theta_0, psi_0); update t uses the key
    ``fold_in(PRNGKey(seed), t)``."""
    check_run_settings(lr, steps)
    with jax.enable_x64(True):
        state = dirac_state(method, lr, float(start[0]), float(start[1]))
        return np.asarray(_trajectory(state, method, jax.random.PRNGKey(seed), steps))


@functools.partial(jax.jit, static_argnames=("method",))
def _displacements(state, method, key, points):
    def one(v):
        moved = state.replace(g_params={"theta": v[0]}, d_params={"psi": v[1]})
        return _point(dirac_update(moved, method, key)) - v
    return jax.vmap(one)(points)


def update_displacements(method: DiracMethod, lr: float, points, seed: int = 0) -> np.ndarray:
    """``(N, 2)``: how far one training update moves each (theta, psi) of
    ``points`` ``(N, 2)``, divided by ``lr``: the vector field the method
    follows (for simultaneous GD it is the gradient field v itself)."""
    check_run_settings(lr)
    with jax.enable_x64(True):
        state = dirac_state(method, lr)
        moved = _displacements(state, method, jax.random.PRNGKey(seed), jnp.asarray(points, jnp.float64))
        return np.asarray(moved) / lr


def spectral_radius(matrix) -> float:
    """``max |eigenvalue|`` of a square matrix."""
    return float(np.max(np.abs(np.linalg.eigvals(np.asarray(matrix)))))


def local_verdict(radius: float, tolerance: float = RADIUS_TOLERANCE) -> str:
    """``converges`` if rho < 1 - tol, ``neutral`` if ``|rho - 1| <= tol``, else ``diverges``."""
    if radius < 1.0 - tolerance:
        return CONVERGES
    return NEUTRAL if radius <= 1.0 + tolerance else DIVERGES


def trajectory_verdict(distances, shrink: float = 0.05, grow: float = 3.0, window: float = 0.1) -> str:
    """What a trajectory did, from its distances d_t to the equilibrium ``(T + 1,)``.

    The envelope at the end, m = max d_t over the last ``window`` share of
    the steps (at least one orbit of the oscillation for the lab's settings),
    is compared with the start: ``converges`` if m < ``shrink`` d_0,
    ``diverges`` if m > ``grow`` d_0 or a distance is not finite, else
    ``neutral`` (bounded, neither reaching the equilibrium nor leaving).
    """
    d = np.asarray(distances, np.float64)
    if not np.all(np.isfinite(d)):
        return DIVERGES
    envelope = d[-max(1, int(window * (len(d) - 1))):].max()
    if envelope < shrink * d[0]:
        return CONVERGES
    return DIVERGES if envelope > grow * d[0] else NEUTRAL


def analyse_method(name: str, lr: float, start, steps: int, seed: int = 0) -> dict:
    """Everything the lab reports about one method.

    Returns a dict: ``jacobian`` ``(2, 2)``, ``eigenvalues`` (complex),
    ``spectral_radius``, ``local_verdict``, ``trajectory`` ``(steps + 1, 2)``,
    ``distances``, ``final_distance``, ``trajectory_verdict`` and
    ``converges``: the trajectory's verdict is ``converges`` (for WGAN-GP the
    trajectory alone decides; for the others the two verdicts must agree, and
    :func:`analyse_method` reports both).
    """
    method = dirac_method(name)
    jacobian = update_jacobian(method, lr, seed)
    eigenvalues = np.linalg.eigvals(jacobian)
    path = simulate_dirac(method, lr, start, steps, seed)
    distances = np.linalg.norm(path, axis=1)
    radius = spectral_radius(jacobian)
    judged = trajectory_verdict(distances)
    return {"jacobian": jacobian, "eigenvalues": eigenvalues, "spectral_radius": radius,
            "local_verdict": local_verdict(radius), "trajectory": path, "distances": distances,
            "final_distance": float(distances[-1]), "trajectory_verdict": judged,
            "converges": judged == CONVERGES}
