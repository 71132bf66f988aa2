"""GAN losses, each a pure function of discriminator logits.

Notation: ``l`` is a discriminator logit and D = sigmoid(l) its probability
that the input is real. ``log D = log_sigmoid(l)`` and
``log(1 - D) = log_sigmoid(-l)`` are computed without forming D, so every loss
stays finite with exact gradients for logits of any size that float32 holds
(tested at +-100). Shapes: logits are ``(B,)`` or ``(B, 1)``; every loss
returns a scalar (the mean over the batch).

Sources: Goodfellow et al. 2014 (minimax); Goodfellow 2016, "NIPS 2016
Tutorial: Generative Adversarial Networks", section 3.2 (saturating,
non-saturating and maximum-likelihood generator costs, with the factor 1/2);
Salimans et al. 2016 (feature matching, one-sided label smoothing);
Arjovsky et al. 2017 and Gulrajani et al. 2017 (WGAN-GP); Mao et al. 2017
(least squares); Lim & Ye 2017, Miyato et al. 2018 (hinge); Jolicoeur-Martineau
2019 and Huang et al. 2024 (relativistic pairing, RpGAN).
"""

from typing import Callable

import jax
import jax.numpy as jnp

__all__ = [
    "binary_cross_entropy",
    "discriminator_bce",
    "generator_saturating",
    "generator_nonsaturating",
    "generator_maximum_likelihood",
    "wasserstein_critic",
    "wasserstein_generator",
    "gradient_penalty",
    "least_squares_discriminator",
    "least_squares_generator",
    "hinge_discriminator",
    "hinge_generator",
    "relativistic_pairing_discriminator",
    "relativistic_pairing_generator",
    "feature_matching",
    "r1_penalty",
    "r2_penalty",
    "D_LOSSES",
    "G_LOSSES",
    "PAIRED_G_LOSSES",
]

# Above this logit the maximum-likelihood cost exp(l) continues as a straight
# line (value and slope both match at the join), so float32 never overflows.
_EXP_LINEAR_ABOVE = 60.0


def binary_cross_entropy(logits: jax.Array, targets) -> jax.Array:
    """Mean binary cross-entropy -[t log sigmoid(l) + (1 - t) log sigmoid(-l)].

    Args:
      logits: ``(B,)`` or ``(B, 1)`` discriminator logits.
      targets: target probabilities, broadcastable to ``logits``.
    """
    targets = jnp.asarray(targets, logits.dtype)
    return -jnp.mean(targets * jax.nn.log_sigmoid(logits)
                     + (1.0 - targets) * jax.nn.log_sigmoid(-logits))


def discriminator_bce(real_logits: jax.Array, fake_logits: jax.Array,
                      label_smoothing: float = 0.0) -> jax.Array:
    """Discriminator cost J(D) = -1/2 E log D(x) - 1/2 E log(1 - D(G(z))).

    ``label_smoothing`` s > 0 is one-sided smoothing (Salimans et al. 2016):
    real targets become 1 - s, fake targets stay 0.

    A discriminator that cannot tell (D = 1/2 everywhere, logits 0) pays log 2:

    >>> import jax.numpy as jnp, math
    >>> loss = discriminator_bce(jnp.zeros(4), jnp.zeros(4))
    >>> bool(jnp.isclose(loss, math.log(2)))
    True
    """
    return 0.5 * (binary_cross_entropy(real_logits, 1.0 - label_smoothing)
                  + binary_cross_entropy(fake_logits, 0.0))


def generator_saturating(fake_logits: jax.Array) -> jax.Array:
    """Minimax generator cost J(G) = -J(D), up to a term free of G: 1/2 E log(1 - D(G(z))).

    At D(G(z)) = 1/2 it is -1/2 log 2; it flattens as D(G(z)) goes to 0 (logits very negative):

    >>> import jax, jax.numpy as jnp, math
    >>> bool(jnp.isclose(generator_saturating(jnp.zeros(3)), -0.5 * math.log(2)))
    True
    >>> float(jax.grad(generator_saturating)(jnp.array([-20.0]))[0]) > -1e-8
    True
    """
    return 0.5 * jnp.mean(jax.nn.log_sigmoid(-fake_logits))


def generator_nonsaturating(fake_logits: jax.Array) -> jax.Array:
    """Non-saturating (heuristic) generator cost J(G) = -1/2 E log D(G(z)).

    Its gradient stays -1/2 per sample where the minimax cost's vanishes (D(G(z)) near 0):

    >>> import jax, jax.numpy as jnp
    >>> float(jax.grad(generator_nonsaturating)(jnp.array([-20.0]))[0])
    -0.5
    """
    return -0.5 * jnp.mean(jax.nn.log_sigmoid(fake_logits))


def _exp_linear_tail(x: jax.Array) -> jax.Array:
    """exp(x) for x <= c, exp(c) (1 + x - c) above: same value and slope at c."""
    c = _EXP_LINEAR_ABOVE
    return jnp.exp(jnp.minimum(x, c)) * (1.0 + jnp.maximum(x - c, 0.0))


def generator_maximum_likelihood(fake_logits: jax.Array) -> jax.Array:
    """Maximum-likelihood generator cost J(G) = -1/2 E exp(sigmoid^-1(D(G(z)))).

    sigmoid^-1(D) is the logit itself, so the cost is -1/2 E exp(l). Exact for
    l <= 60; above that the exponential continues linearly so float32 does not
    overflow (exp(88.8) is already inf in float32).
    """
    return -0.5 * jnp.mean(_exp_linear_tail(fake_logits))


def wasserstein_critic(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
    """WGAN critic cost E f(G(z)) - E f(x) (minimised by the critic f)."""
    return jnp.mean(fake_scores) - jnp.mean(real_scores)


def wasserstein_generator(fake_scores: jax.Array) -> jax.Array:
    """WGAN generator cost -E f(G(z))."""
    return -jnp.mean(fake_scores)


def _input_gradient_sq_norms(critic: Callable[[jax.Array], jax.Array], x: jax.Array) -> jax.Array:
    """``(B,)``: ||grad_x critic(x)_i||_2^2 for each sample i, the norm taken over
    all of the sample's dimensions (the gradient is flattened per sample)."""
    grads = jax.grad(lambda x: jnp.sum(critic(x)))(x)
    return jnp.sum(grads.reshape(grads.shape[0], -1) ** 2, axis=1)


def gradient_penalty(critic: Callable[[jax.Array], jax.Array], real: jax.Array,
                     fake: jax.Array, key: jax.Array) -> jax.Array:
    """WGAN-GP penalty E (||grad_x f(x_hat)||_2 - 1)^2 (Gulrajani et al. 2017).

    x_hat = eps x + (1 - eps) G(z) with eps ~ U[0, 1] drawn once per sample.
    The norm is taken per sample over all of its dimensions (the sample is
    flattened first), not over one axis of a 4-D gradient.

    Args:
      critic: maps a batch ``(B, ...)`` to scores ``(B,)`` or ``(B, 1)``.
      real, fake: batches of the same shape ``(B, ...)``.
      key: PRNG key for eps.
    """
    eps_shape = (real.shape[0],) + (1,) * (real.ndim - 1)
    eps = jax.random.uniform(key, eps_shape, real.dtype)
    x_hat = eps * real + (1.0 - eps) * fake
    norms = jnp.sqrt(_input_gradient_sq_norms(critic, x_hat) + 1e-12)
    return jnp.mean((norms - 1.0) ** 2)


def r1_penalty(critic: Callable[[jax.Array], jax.Array], real: jax.Array) -> jax.Array:
    """R1 regulariser E_{x ~ p_r} ||grad_x D(x)||_2^2 (Mescheder et al. 2018).

    The discriminator's gradient on real data only, squared per sample over
    all of its dimensions and averaged over the B samples; D minimises
    ``(gamma / 2)`` times this. It pushes D to be flat on the data, which makes
    the GAN dynamics locally convergent. With a packing D (PacGAN, m samples
    per D input) the average is still over samples, so it is 1/m of the mean
    over packs of the squared gradient with respect to the whole pack.

    Args:
      critic: maps a batch ``(B, ...)`` to logits ``(B,)`` or ``(B, 1)``.
      real: a real batch ``(B, ...)``.
    """
    return jnp.mean(_input_gradient_sq_norms(critic, real))


def r2_penalty(critic: Callable[[jax.Array], jax.Array], fake: jax.Array) -> jax.Array:
    """R2 regulariser E_{x ~ p_g} ||grad_x D(x)||_2^2 (Mescheder et al. 2018, eq. 10).

    The same zero-centred penalty as :func:`r1_penalty`, on generated data:
    D minimises ``(gamma / 2)`` times this, with the fake batch held fixed
    (the penalty trains D only).

    Args:
      critic: maps a batch ``(B, ...)`` to logits ``(B,)`` or ``(B, 1)``.
      fake: a generated batch ``(B, ...)``.
    """
    return jnp.mean(_input_gradient_sq_norms(critic, fake))


def least_squares_discriminator(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
    """LSGAN discriminator cost 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2 (a=0, b=1)."""
    return 0.5 * jnp.mean((real_scores - 1.0) ** 2) + 0.5 * jnp.mean(fake_scores ** 2)


def least_squares_generator(fake_scores: jax.Array) -> jax.Array:
    """LSGAN generator cost 1/2 E (D(G(z)) - 1)^2 (c=1)."""
    return 0.5 * jnp.mean((fake_scores - 1.0) ** 2)


def hinge_discriminator(real_scores: jax.Array, fake_scores: jax.Array) -> jax.Array:
    """Hinge discriminator cost E max(0, 1 - D(x)) + E max(0, 1 + D(G(z)))."""
    return jnp.mean(jax.nn.relu(1.0 - real_scores)) + jnp.mean(jax.nn.relu(1.0 + fake_scores))


def hinge_generator(fake_scores: jax.Array) -> jax.Array:
    """Hinge generator cost -E D(G(z))."""
    return -jnp.mean(fake_scores)


def _check_pairs(real_logits: jax.Array, fake_logits: jax.Array) -> None:
    if real_logits.shape != fake_logits.shape:
        raise ValueError(f"the relativistic pairing loss pairs real and fake logits one to one; got shapes "
                         f"{real_logits.shape} and {fake_logits.shape}: give equal batches")


def relativistic_pairing_discriminator(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """RpGAN discriminator cost 1/B sum_i softplus(l(G(z_i)) - l(x_i)).

    The relativistic pairing GAN (Jolicoeur-Martineau 2019) in the
    non-saturating form of Huang et al. 2024 (R3GAN): fake sample i is scored
    against real sample i of the batch, by the difference of their logits.
    softplus(t) = log(1 + e^t) = -log sigmoid(-t), so this is the BCE of the
    pair's difference l(x_i) - l(G(z_i)) with target "real"; there is no
    factor 1/2 (unlike :func:`discriminator_bce`). Its gradient is
    sigmoid(l(G(z_i)) - l(x_i)) / B with respect to l(G(z_i)) and minus that
    with respect to l(x_i).

    Args:
      real_logits, fake_logits: ``(B,)`` or ``(B, 1)``, the same shape; row i
        of one is paired with row i of the other (a ValueError otherwise).
    """
    _check_pairs(real_logits, fake_logits)
    return jnp.mean(jax.nn.softplus(fake_logits - real_logits))


def relativistic_pairing_generator(real_logits: jax.Array, fake_logits: jax.Array) -> jax.Array:
    """RpGAN generator cost 1/B sum_i softplus(l(x_i) - l(G(z_i))) (Huang et al. 2024).

    The discriminator's cost with real and fake swapped: G makes each of its
    samples look more real than the real sample it is paired with, so its loss
    needs the real batch (D's logits on it are constants for G). The gradient
    with respect to l(G(z_i)) is -sigmoid(l(x_i) - l(G(z_i))) / B: it stays
    near -1/B while G's sample scores below its pair (no saturation).

    Args:
      real_logits, fake_logits: ``(B,)`` or ``(B, 1)``, the same shape, paired by row.
    """
    _check_pairs(real_logits, fake_logits)
    return jnp.mean(jax.nn.softplus(real_logits - fake_logits))


def feature_matching(real_features: jax.Array, fake_features: jax.Array) -> jax.Array:
    """Feature ("statistics") matching ||E f(x) - E f(G(z))||_2^2 (Salimans et al. 2016).

    Args:
      real_features, fake_features: ``(B, F)`` (or ``(B, ...)``, flattened)
        activations of an intermediate discriminator layer.
    """
    real_mean = jnp.mean(real_features.reshape(real_features.shape[0], -1), axis=0)
    fake_mean = jnp.mean(fake_features.reshape(fake_features.shape[0], -1), axis=0)
    return jnp.sum((real_mean - fake_mean) ** 2)


#: Discriminator losses by name: (real_logits, fake_logits) -> scalar.
D_LOSSES = {
    "bce": discriminator_bce,
    "wasserstein": wasserstein_critic,
    "least_squares": least_squares_discriminator,
    "hinge": hinge_discriminator,
    "rpgan": relativistic_pairing_discriminator,
}

#: Generator losses by name: fake_logits -> scalar.
G_LOSSES = {
    "saturating": generator_saturating,
    "nonsaturating": generator_nonsaturating,
    "maximum_likelihood": generator_maximum_likelihood,
    "wasserstein": wasserstein_generator,
    "least_squares": least_squares_generator,
    "hinge": hinge_generator,
}

#: Generator losses that compare each fake sample with a real one, by name:
#: (real_logits, fake_logits) -> scalar. Each needs the discriminator loss of the same name.
PAIRED_G_LOSSES = {
    "rpgan": relativistic_pairing_generator,
}
