"""Mode coverage against brute-force NumPy/SciPy and the chi-square closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import chi2

from gan_jax.data import sources as data
from gan_jax.metrics import mode_coverage as mc

JIT = pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])


def coverage_fn(jit):
    return jax.jit(mc.mode_coverage, static_argnames=("threshold",)) if jit else mc.mode_coverage


def brute_force(samples, centers, std, threshold=3.0):
    """The rule written out with SciPy distances, one sample at a time."""
    dist = cdist(np.asarray(samples, np.float64), np.asarray(centers, np.float64))
    counts = np.zeros(len(centers), int)
    for row in dist:
        j = int(np.argmin(row))
        if row[j] < threshold * std:
            counts[j] += 1
    return counts, int(np.sum(counts > 0)), counts.sum() / len(samples)


def test_ring_centers_are_on_the_circle_at_equal_angles():
    c = np.asarray(mc.ring_centers(8, 1.0), np.float64)
    np.testing.assert_allclose(np.hypot(c[:, 0], c[:, 1]), 1.0, atol=1e-6)
    angles = np.mod(np.arctan2(c[:, 1], c[:, 0]), 2 * np.pi)
    np.testing.assert_allclose(angles, 2 * np.pi * np.arange(8) / 8, atol=1e-6)


def test_grid_centers_are_the_published_grid():
    c = np.asarray(mc.grid_centers(5, 2.0))
    want = {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {tuple(np.round(p).astype(int)) for p in c} == want
    np.testing.assert_allclose(c, np.round(c), atol=1e-6)


@JIT
@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_matches_brute_force_on_noisy_samples(name, jit):
    centers, std = mc.benchmark_mixture(name)
    rng = np.random.default_rng(1)
    modes = rng.integers(0, len(centers) - 2, size=600)  # leave the last two modes empty
    x = np.asarray(centers)[modes] + 4 * std * rng.normal(size=(600, 2))
    out = coverage_fn(jit)(jnp.asarray(x, jnp.float32), centers, std)
    counts, captured, frac = brute_force(x, centers, std)
    np.testing.assert_array_equal(np.asarray(out["counts"]), counts)
    assert int(out["modes_captured"]) == captured <= len(centers) - 2
    np.testing.assert_allclose(float(out["high_quality_fraction"]), frac, atol=1e-6)


@JIT
def test_threshold_is_three_standard_deviations(jit):
    centers, std = mc.benchmark_mixture("ring8")
    direction = np.array([[0.6, 0.8]])
    inside = np.asarray(centers)[:4] + 2.9 * std * direction
    outside = np.asarray(centers)[4:] + 3.1 * std * direction
    out = coverage_fn(jit)(jnp.asarray(np.concatenate([inside, outside]), jnp.float32), centers, std)
    np.testing.assert_array_equal(np.asarray(out["counts"]), [1, 1, 1, 1, 0, 0, 0, 0])
    assert int(out["modes_captured"]) == 4
    assert float(out["high_quality_fraction"]) == pytest.approx(0.5)


@JIT
def test_collapsed_generator_captures_one_mode(jit):
    centers, std = mc.benchmark_mixture("grid25")
    x = jnp.tile(centers[7], (100, 1))
    out = coverage_fn(jit)(x, centers, std)
    assert int(out["modes_captured"]) == 1 and int(out["counts"][7]) == 100


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_real_data_has_the_chi_square_high_quality_rate(name):
    """For x ~ N(mu, s^2 I_2), ||x - mu||^2 / s^2 ~ chi^2_2, so
    P(high quality) = P(chi^2_2 < 9) = 1 - exp(-4.5) = 0.98889."""
    centers, std = mc.benchmark_mixture(name)
    x, _ = data.sample_toy_host(name, 2, mc.EVAL_SAMPLES)
    out = mc.mode_coverage(jnp.asarray(x), centers, std)
    p = chi2.cdf(9.0, df=2)
    assert p == pytest.approx(1 - np.exp(-4.5))
    sd = np.sqrt(p * (1 - p) / mc.EVAL_SAMPLES)
    assert abs(float(out["high_quality_fraction"]) - p) < 4 * sd
    assert int(out["modes_captured"]) == len(centers)


def test_zero_modes_and_bad_shapes_are_value_errors():
    with pytest.raises(ValueError, match="at least one mode"):
        mc.ring_centers(0)
    with pytest.raises(ValueError, match="at least one mode"):
        mc.grid_centers(0)
    with pytest.raises(ValueError, match="at least one mode"):
        mc.mode_coverage(jnp.zeros((4, 2)), jnp.zeros((0, 2)), 0.1)
    with pytest.raises(ValueError, match="expected \\(N, 2\\)"):
        mc.mode_coverage(jnp.zeros((4, 3)), mc.ring_centers(), 0.1)
    with pytest.raises(ValueError, match="unknown mixture"):
        mc.benchmark_mixture("ring9")


def test_command_scores_a_samples_file(tmp_path, capsys):
    from gan_jax.cli import main
    centers, _ = mc.benchmark_mixture("ring8")
    path = tmp_path / "samples.npz"
    np.savez(path, samples=np.repeat(np.asarray(centers)[:3], 10, axis=0))
    assert main(["mode-coverage", str(path), "--data", "ring8"]) == 0
    assert "3/8 modes captured, 100.0% high-quality" in capsys.readouterr().out
    np.savez(path, samples=np.zeros((5, 3)))
    assert main(["mode-coverage", str(path), "--data", "ring8"]) == 2
    assert "needs (N, 2)" in capsys.readouterr().err
