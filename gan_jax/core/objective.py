"""What a GAN minimises: the losses, penalties and training options of one objective.

A :class:`GANObjective` is frozen and hashable: it is a static field of the
train state, so ``jax.jit`` compiles one program per objective and reuses it
for every equal one.
"""

import dataclasses

from gan_jax.core import losses

__all__ = ["GANObjective", "UNROLL_OBJECTIVES"]

#: What the unrolled discriminator steps minimise: the generator's loss only, or the minimax value.
UNROLL_OBJECTIVES = ("generator", "minimax")


@dataclasses.dataclass(frozen=True)
class GANObjective:
    """Which losses a GAN minimises (hashable, so it can be a static field).

    Attributes:
      d_loss: key of :data:`gan_jax.core.losses.D_LOSSES`.
      g_loss: key of :data:`gan_jax.core.losses.G_LOSSES`, or of
        :data:`gan_jax.core.losses.PAIRED_G_LOSSES` (the generator's cost
        compares each fake sample with a real one): ``"rpgan"``, the
        relativistic pairing GAN (Huang et al. 2024), which goes with
        ``d_loss="rpgan"`` and no other, and not with ``feature_matching``.
        R3GAN's loss is ``rpgan`` with ``r1_weight`` = ``r2_weight`` = gamma.
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
        if self.g_loss not in losses.G_LOSSES and self.g_loss not in losses.PAIRED_G_LOSSES:
            raise ValueError(f"unknown g_loss {self.g_loss!r}; expected one of "
                             f"{sorted(losses.G_LOSSES) + sorted(losses.PAIRED_G_LOSSES)}")
        paired = next((name for name in (self.d_loss, self.g_loss) if name in losses.PAIRED_G_LOSSES), None)
        if paired and self.d_loss != self.g_loss:
            raise ValueError(f"d_loss={self.d_loss!r} and g_loss={self.g_loss!r} do not combine: the {paired} "
                             f"loss scores real and fake samples in pairs in both players' losses; set "
                             f"d_loss={paired} and g_loss={paired}, or neither")
        if paired and self.feature_matching:
            raise ValueError(f"feature_matching replaces the generator's loss, so g_loss={paired!r} would "
                             f"not be used; set feature_matching=false or choose another d_loss and g_loss")
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
