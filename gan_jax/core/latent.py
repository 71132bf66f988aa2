"""The latent space: interpolation, image attributes, attribute hyperplanes.

Interpolation (linear and spherical, White 2016 "Sampling generative
networks"), attribute functions f_S computed directly on digit images, and
InterFaceGAN-style editing (Shen et al. 2020 "Interpreting the latent space of
GANs for semantic face editing"): an attribute S is modelled as a hyperplane
n^T z = 0, so s = lambda n^T z; for K attributes with unit normals N = [n_1 ..
n_K] and z ~ N(0, I), the attributes have covariance
Sigma_s = Lambda N^T N Lambda, diagonal exactly when the normals are
orthogonal (disentangled). All functions are pure.
"""

from typing import Callable, Dict

import jax
import jax.numpy as jnp

__all__ = [
    "lerp", "slerp", "interpolate", "ink", "thickness", "slant", "size",
    "ATTRIBUTES", "attribute_fn", "fit_hyperplane", "edit", "rankdata",
    "spearman", "cosine_matrix", "predicted_covariance", "correlation_matrix",
    "project_out", "check_latent", "monotonicity", "class_kept",
]

# Pixels brighter than this (on a [0, 1] scale) count as ink for the
# thresholded attributes; the midpoint of the range.
_INK_THRESHOLD = 0.5


def lerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
    """Linear interpolation ``(D,), (D,), (T,) -> (T, D)``: (1 - t) z0 + t z1."""
    t = jnp.asarray(t)[:, None]
    return (1.0 - t) * z0[None] + t * z1[None]


def slerp(z0: jax.Array, z1: jax.Array, t: jax.Array) -> jax.Array:
    """Spherical interpolation ``(D,), (D,), (T,) -> (T, D)`` (Shoemake 1985;
    White 2016 for Gaussian latents)::

        slerp = sin((1 - t) w) / sin w * z0 + sin(t w) / sin w * z1,
        cos w = z0 . z1 / (|z0| |z1|).

    Falls back to :func:`lerp` when z0 and z1 are (anti)parallel, where sin w = 0.

    Between two orthogonal unit vectors the path stays on the unit circle, where the
    straight line's midpoint has norm 1/sqrt(2):

    >>> import jax.numpy as jnp
    >>> z0, z1, t = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0]), jnp.array([0.0, 0.5, 1.0])
    >>> [round(float(n), 4) for n in jnp.linalg.norm(slerp(z0, z1, t), axis=1)]
    [1.0, 1.0, 1.0]
    >>> round(float(jnp.linalg.norm(lerp(z0, z1, t)[1])), 4)
    0.7071
    """
    t = jnp.asarray(t)[:, None]
    cos = jnp.dot(z0, z1) / (jnp.linalg.norm(z0) * jnp.linalg.norm(z1))
    omega = jnp.arccos(jnp.clip(cos, -1.0, 1.0))
    sin = jnp.sin(omega)
    # Keep the unused branch finite so that jnp.where has no NaN to propagate.
    safe = jnp.where(sin > 1e-6, sin, 1.0)
    spherical = (jnp.sin((1.0 - t) * omega) / safe) * z0[None] + (jnp.sin(t * omega) / safe) * z1[None]
    return jnp.where(sin > 1e-6, spherical, lerp(z0, z1, t[:, 0]))


def check_latent(z, latent_dim: int):
    """Raise ValueError unless ``z`` has shape ``(..., latent_dim)``."""
    if z.ndim < 1 or z.shape[-1] != latent_dim:
        raise ValueError(f"latent code has shape {tuple(z.shape)} but the model's latent_dim is "
                        f"{latent_dim}; pass codes of shape (..., {latent_dim})")


def interpolate(z0: jax.Array, z1: jax.Array, num: int, method: str = "slerp") -> jax.Array:
    """``num`` evenly spaced points from z0 to z1 inclusive: ``(num, D)``."""
    if method not in ("lerp", "slerp"):
        raise ValueError(f"unknown interpolation {method!r}; use lerp or slerp")
    if z0.shape != z1.shape or z0.ndim != 1:
        raise ValueError(f"interpolation needs two codes of one shape (D,), got {z0.shape} and {z1.shape}")
    t = jnp.linspace(0.0, 1.0, num)
    return (slerp if method == "slerp" else lerp)(z0, z1, t)


def _intensity(images: jax.Array) -> jax.Array:
    """``(B, H, W, C)`` in [-1, 1] -> ``(B, H, W)`` ink in [0, 1] (channel mean)."""
    return (jnp.mean(images, axis=-1) + 1.0) / 2.0


def ink(images: jax.Array) -> jax.Array:
    """Mean ink per image, ``(B, H, W, C) -> (B,)``: mean of (x + 1) / 2."""
    return jnp.mean(_intensity(images), axis=(1, 2))


def thickness(images: jax.Array) -> jax.Array:
    """Stroke thickness in pixels, ``(B, H, W, C) -> (B,)``: total ink divided
    by the number of rows that contain ink (pixel > 0.5), i.e. the mean
    horizontal width of the stroke; a vertical bar of width w gives w."""
    p = _intensity(images)
    rows = jnp.sum(jnp.max(p, axis=2) > _INK_THRESHOLD, axis=1)
    return jnp.sum(p, axis=(1, 2)) / jnp.maximum(rows, 1)


def slant(images: jax.Array) -> jax.Array:
    """Slant from second image moments, ``(B, H, W, C) -> (B,)``:
    mu11 / mu02 with x the column and y the row counted upwards, i.e. the
    least-squares slope dx/dy of the ink (the deskewing shear of LeCun et
    al.'s MNIST preprocessing). Positive: the top leans right."""
    p = _intensity(images)
    h, w = p.shape[1:3]
    y = -jnp.arange(h, dtype=p.dtype)[None, :, None]
    x = jnp.arange(w, dtype=p.dtype)[None, None, :]
    mass = jnp.maximum(jnp.sum(p, axis=(1, 2)), 1e-8)
    mx = jnp.sum(p * x, axis=(1, 2)) / mass
    my = jnp.sum(p * y, axis=(1, 2)) / mass
    dx = x - mx[:, None, None]
    dy = y - my[:, None, None]
    mu11 = jnp.sum(p * dx * dy, axis=(1, 2))
    mu02 = jnp.maximum(jnp.sum(p * dy * dy, axis=(1, 2)), 1e-8)
    return mu11 / mu02


def size(images: jax.Array) -> jax.Array:
    """Bounding-box area of the ink (pixels > 0.5) as a fraction of the
    image, ``(B, H, W, C) -> (B,)``; 0 for an empty image."""
    mask = _intensity(images) > _INK_THRESHOLD
    h, w = mask.shape[1:3]

    def span(any_along):
        idx = jnp.arange(any_along.shape[1])
        first = jnp.min(jnp.where(any_along, idx, any_along.shape[1]), axis=1)
        last = jnp.max(jnp.where(any_along, idx, -1), axis=1)
        return jnp.maximum(last - first + 1, 0)

    return span(jnp.any(mask, axis=2)) * span(jnp.any(mask, axis=1)) / (h * w)


#: The image attributes by name: images (B, H, W, C) -> scores (B,).
ATTRIBUTES: Dict[str, Callable[[jax.Array], jax.Array]] = {
    "ink": ink, "thickness": thickness, "slant": slant, "size": size,
}


def attribute_fn(name: str) -> Callable[[jax.Array], jax.Array]:
    """The attribute function called ``name``; ValueError if there is none."""
    if name not in ATTRIBUTES:
        raise ValueError(f"unknown attribute {name!r}; expected one of {', '.join(sorted(ATTRIBUTES))}")
    return ATTRIBUTES[name]


def fit_hyperplane(z: jax.Array, scores: jax.Array, fraction: float = 0.25,
                   steps: int = 500, lr: float = 0.5, l2: float = 1e-3):
    """Unit normal of the hyperplane separating high from low attribute scores.

    InterFaceGAN (Shen et al. 2020, sec. 2.2): the ``fraction`` of codes with
    the highest scores are labelled 1 and the lowest 0; a logistic regression
    p = sigmoid(w . z + b) is fit by full-batch gradient descent on the mean
    cross-entropy + l2 ``|w|^2 / 2``. ``z (N, D)``, ``scores (N,)`` ->
    ``(n (D,) with |n| = 1, b / |w|)``; n points towards higher scores.
    """
    n = z.shape[0]
    k = max(1, int(round(fraction * n)))
    order = jnp.argsort(scores)
    x = jnp.concatenate([z[order[:k]], z[order[n - k:]]])
    y = jnp.concatenate([jnp.zeros(k), jnp.ones(k)])

    def loss(params):
        w, b = params
        logits = x @ w + b
        ce = jnp.mean(jnp.logaddexp(0.0, logits) - y * logits)
        return ce + 0.5 * l2 * jnp.sum(w * w)

    grad = jax.grad(loss)
    params = jax.lax.fori_loop(0, steps, lambda _, p: jax.tree_util.tree_map(
        lambda a, g: a - lr * g, p, grad(p)), (jnp.zeros(z.shape[1]), jnp.zeros(())))
    w, b = params
    norm = jnp.linalg.norm(w)
    return w / norm, b / norm


def edit(z: jax.Array, normal: jax.Array, alphas: jax.Array) -> jax.Array:
    """Move codes along a normal: ``(B, D), (D,), (A,) -> (B, A, D)``, z + alpha n."""
    return z[:, None, :] + jnp.asarray(alphas)[None, :, None] * normal[None, None, :]


def rankdata(x: jax.Array) -> jax.Array:
    """Ranks 1..n of ``(n,)`` with ties given their average rank (as
    scipy.stats.rankdata): r_i = #{x_j < x_i} + (#{x_j = x_i} + 1) / 2."""
    less = jnp.sum(x[None, :] < x[:, None], axis=1)
    equal = jnp.sum(x[None, :] == x[:, None], axis=1)
    return less + (equal + 1) / 2.0


def spearman(x: jax.Array, y: jax.Array) -> jax.Array:
    """Spearman's rank correlation of ``(n,)``, ``(n,)``: the Pearson
    correlation of their ranks (Spearman 1904)."""
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return jnp.sum(rx * ry) / jnp.sqrt(jnp.sum(rx * rx) * jnp.sum(ry * ry))


def cosine_matrix(normals: jax.Array) -> jax.Array:
    """``(K, D) -> (K, K)`` cosines between attribute normals, N^T N for unit normals."""
    unit = normals / jnp.linalg.norm(normals, axis=1, keepdims=True)
    return unit @ unit.T


def predicted_covariance(normals: jax.Array, scales: jax.Array) -> jax.Array:
    """Attribute covariance predicted by the hyperplane model, Shen et al.
    2020 eq. 3: s = Lambda N^T z, z ~ N(0, I) => Sigma_s = Lambda N^T N Lambda.
    ``normals (K, D)`` unit rows, ``scales (K,)`` the lambdas -> ``(K, K)``;
    with unit scales it is the predicted correlation matrix."""
    return scales[:, None] * cosine_matrix(normals) * scales[None, :]


def correlation_matrix(scores: jax.Array) -> jax.Array:
    """Empirical Pearson correlation of attributes, ``(N, K) -> (K, K)``."""
    centred = scores - scores.mean(axis=0)
    cov = centred.T @ centred
    std = jnp.sqrt(jnp.diag(cov))
    return cov / (std[:, None] * std[None, :])


def project_out(n1: jax.Array, n2: jax.Array) -> jax.Array:
    """Conditional manipulation direction (Shen et al. 2020, sec. 2.2): edit
    attribute 1 without moving along attribute 2, ``(D,), (D,) -> (D,)``:
    ``(n1 - (n1 . n2) n2) / |n1 - (n1 . n2) n2|`` for a unit n2."""
    n2 = n2 / jnp.linalg.norm(n2)
    d = n1 - jnp.dot(n1, n2) * n2
    return d / jnp.linalg.norm(d)


def monotonicity(scores: jax.Array, alphas: jax.Array) -> jax.Array:
    """How monotonically an attribute follows an edit, ``(B, A), (A,) -> ()``:
    the mean over the B edited codes of Spearman's rho(alpha, s(z + alpha n));
    1 when the attribute always grows with alpha. Codes whose attribute does
    not change at all (rho undefined, e.g. a coarse bounding box) are left out;
    NaN if all are."""
    return jnp.nanmean(jax.vmap(lambda s: spearman(jnp.asarray(alphas, s.dtype), s))(scores))


def class_kept(classes: jax.Array, reference: jax.Array) -> jax.Array:
    """Fraction of edited samples whose class is unchanged, ``(B, A), (B,) -> ()``:
    mean over b, a of [classes[b, a] == reference[b]]."""
    return jnp.mean(classes == reference[:, None])
