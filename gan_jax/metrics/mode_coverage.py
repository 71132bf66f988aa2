"""Mode coverage on the 2-D mixture benchmarks (ring of 8, grid of 25 Gaussians).

The protocol of VEEGAN (Srivastava et al. 2017, section 5.1 and Table 1) as
also used by PacGAN (Lin et al. 2018, Table 1, and their released code,
``fjxmlzn/PacGAN``, ``synthetic_data_experiments``):

- 2D ring: 8 isotropic Gaussians, means (cos(2 pi i / 8), sin(2 pi i / 8)),
  i.e. radius 1, standard deviation 0.01.
- 2D grid: 25 isotropic Gaussians, means (-4 + 2i, -4 + 2j), i, j in 0..4
  (spacing 2), standard deviation 0.05.
- Draw 2,500 samples from the generator. A sample is *high quality* if it
  lies within 3 standard deviations of its nearest mode; a mode is
  *captured* if it is the nearest mode of at least one high-quality sample.
  Report the number of captured modes and the percentage of high-quality
  samples, averaged over runs (VEEGAN: 5 runs; PacGAN: 10, with standard
  errors).

(Metz et al. 2016, whose unrolled GAN started the benchmark, used a ring of
radius 2 with standard deviation 0.02; VEEGAN and PacGAN use the values above.)
"""

import jax
import jax.numpy as jnp

__all__ = [
    "RING_RADIUS", "RING_STD", "GRID_SPACING", "GRID_STD", "EVAL_SAMPLES", "HIGH_QUALITY_STDS",
    "ring_centers", "grid_centers", "benchmark_mixture", "mode_coverage",
]

#: The ring of 8 Gaussians: radius of the means and standard deviation of each.
RING_RADIUS, RING_STD = 1.0, 0.01
#: The grid of 25 Gaussians: spacing of the means and standard deviation of each.
GRID_SPACING, GRID_STD = 2.0, 0.05
#: The number of generator samples the protocol scores.
EVAL_SAMPLES = 2500
#: A sample within this many standard deviations of its nearest mode is high quality.
HIGH_QUALITY_STDS = 3.0


def ring_centers(num_modes: int = 8, radius: float = RING_RADIUS) -> jax.Array:
    """Means r (cos(2 pi i / n), sin(2 pi i / n)), i = 0..n-1: ``(n, 2)``."""
    if num_modes < 1:
        raise ValueError(f"a ring mixture needs at least one mode, got num_modes={num_modes}")
    angles = 2.0 * jnp.pi * jnp.arange(num_modes) / num_modes
    return radius * jnp.stack([jnp.cos(angles), jnp.sin(angles)], axis=1)


def grid_centers(side: int = 5, spacing: float = GRID_SPACING) -> jax.Array:
    """Means spacing * (i - (side-1)/2, j - (side-1)/2) on a side x side grid: ``(side^2, 2)``.

    For side 5 and spacing 2 these are (-4 + 2i, -4 + 2j), row-major in i.
    """
    if side < 1:
        raise ValueError(f"a grid mixture needs at least one mode, got side={side}")
    ticks = spacing * (jnp.arange(side) - (side - 1) / 2.0)
    xs, ys = jnp.meshgrid(ticks, ticks, indexing="ij")
    return jnp.stack([xs.ravel(), ys.ravel()], axis=1)


def benchmark_mixture(name: str):
    """``(centers, std)`` of the published ``"ring8"`` or ``"grid25"`` benchmark."""
    if name == "ring8":
        return ring_centers(8, RING_RADIUS), RING_STD
    if name == "grid25":
        return grid_centers(5, GRID_SPACING), GRID_STD
    raise ValueError(f"unknown mixture {name!r}; expected ring8 or grid25")


def mode_coverage(samples: jax.Array, centers: jax.Array, std: float,
                  threshold: float = HIGH_QUALITY_STDS) -> dict:
    """The VEEGAN/PacGAN mode-collapse measures of generated 2-D samples.

    With m(x) = argmin_j ||x - mu_j||_2 the nearest mode and
    q(x) = [||x - mu_m(x)||_2 < threshold * std] (high quality):

      counts_j = #{x : m(x) = j and q(x)},
      modes_captured = #{j : counts_j > 0},
      high_quality_fraction = sum_j counts_j / N.

    Args:
      samples: ``(N, 2)`` generated points (any dimension d works: ``(N, d)``).
      centers: ``(M, d)`` mode means, M >= 1.
      std: the modes' (isotropic) standard deviation.
      threshold: high-quality radius in standard deviations (3 in the papers).

    Returns:
      dict with ``counts`` ``(M,)`` int32, ``modes_captured`` int32 scalar,
      ``high_quality_fraction`` float scalar.
    """
    if centers.shape[0] < 1:
        raise ValueError("mode_coverage needs at least one mode centre, got none")
    if samples.ndim != 2 or samples.shape[1] != centers.shape[1]:
        raise ValueError(f"samples have shape {samples.shape}; expected (N, {centers.shape[1]}) "
                        "like the mode centres")
    sq_dist = jnp.sum((samples[:, None, :] - centers[None, :, :]) ** 2, axis=-1)
    nearest = jnp.argmin(sq_dist, axis=1)
    # Compare squared distances: no square root, same decision.
    good = jnp.min(sq_dist, axis=1) < (threshold * std) ** 2
    counts = jnp.zeros(centers.shape[0], jnp.int32).at[nearest].add(good.astype(jnp.int32))
    return {"counts": counts,
            "modes_captured": jnp.sum(counts > 0).astype(jnp.int32),
            "high_quality_fraction": jnp.mean(good.astype(jnp.float32))}
