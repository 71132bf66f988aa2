"""gan_jax.core.latent against closed forms and scipy/numpy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.stats

from gan_jax.core import latent

both = pytest.mark.parametrize("jit", [False, True])


def _maybe_jit(f, jit):
    return jax.jit(f) if jit else f


def _image(p):
    """``(H, W)`` ink in [0, 1] -> ``(1, H, W, 1)`` in [-1, 1]."""
    return jnp.asarray(p, jnp.float32)[None, :, :, None] * 2.0 - 1.0


@both
def test_lerp_endpoints_and_midpoint(jit):
    z0, z1 = jnp.array([1.0, 0.0, 2.0]), jnp.array([3.0, 4.0, -2.0])
    out = _maybe_jit(latent.lerp, jit)(z0, z1, jnp.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(out, [z0, (z0 + z1) / 2, z1], atol=1e-6)


@both
def test_slerp_on_orthogonal_unit_vectors_is_the_circle(jit):
    z0, z1 = jnp.array([1.0, 0.0]), jnp.array([0.0, 1.0])
    t = jnp.linspace(0, 1, 7)
    out = _maybe_jit(latent.slerp, jit)(z0, z1, t)
    angle = t * np.pi / 2
    np.testing.assert_allclose(out, np.stack([np.cos(angle), np.sin(angle)], 1), atol=1e-5)


@both
def test_slerp_parallel_falls_back_to_lerp(jit):
    z0 = jnp.array([1.0, 2.0])
    out = _maybe_jit(latent.slerp, jit)(z0, 3 * z0, jnp.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(out, [z0, 2 * z0, 3 * z0], rtol=1e-5)
    assert np.all(np.isfinite(out))


def test_interpolate_errors():
    with pytest.raises(ValueError, match="lerp or slerp"):
        latent.interpolate(jnp.zeros(2), jnp.ones(2), 3, "cubic")
    with pytest.raises(ValueError, match="one shape"):
        latent.interpolate(jnp.zeros(2), jnp.ones(3), 3)
    with pytest.raises(ValueError, match="latent_dim is 8"):
        latent.check_latent(jnp.zeros((4, 3)), 8)
    latent.check_latent(jnp.zeros((4, 8)), 8)


@both
def test_ink_and_thickness_of_a_vertical_bar(jit):
    p = np.zeros((8, 8))
    p[1:7, 2:5] = 1.0          # 6 rows, width 3
    x = _image(p)
    np.testing.assert_allclose(_maybe_jit(latent.ink, jit)(x), [18 / 64], rtol=1e-6)
    np.testing.assert_allclose(_maybe_jit(latent.thickness, jit)(x), [3.0], rtol=1e-6)


@both
def test_slant_of_a_sheared_line(jit):
    # Ink on the line x = c + a y (y counted upwards) has moment slope dx/dy = a.
    p = np.zeros((9, 9))
    for row in range(1, 8):
        p[row, row] = 1.0      # top-left to bottom-right: leans left, dx/dy = -1
    np.testing.assert_allclose(_maybe_jit(latent.slant, jit)(_image(p)), [-1.0], atol=1e-5)
    np.testing.assert_allclose(_maybe_jit(latent.slant, jit)(_image(p[:, ::-1])), [1.0], atol=1e-5)
    upright = np.zeros((9, 9))
    upright[1:8, 4] = 1.0
    np.testing.assert_allclose(_maybe_jit(latent.slant, jit)(_image(upright)), [0.0], atol=1e-6)


@both
def test_size_is_the_bounding_box_fraction(jit):
    p = np.zeros((8, 8))
    p[2, 1] = p[5, 6] = 1.0     # rows 2..5, cols 1..6
    out = _maybe_jit(latent.size, jit)(jnp.concatenate([_image(p), _image(np.zeros((8, 8)))]))
    np.testing.assert_allclose(out, [4 * 6 / 64, 0.0], rtol=1e-6)


def test_attribute_fn_unknown_name():
    assert latent.attribute_fn("slant") is latent.slant
    with pytest.raises(ValueError, match="unknown attribute 'bold'"):
        latent.attribute_fn("bold")


@both
def test_fit_hyperplane_recovers_the_normal(jit):
    key_z, key_n = jax.random.split(jax.random.PRNGKey(0))
    d = 8
    n_true = jax.random.normal(key_n, (d,))
    n_true = n_true / jnp.linalg.norm(n_true)
    z = jax.random.normal(key_z, (600, d))
    fit = _maybe_jit(lambda z, s: latent.fit_hyperplane(z, s), jit)
    n, _ = fit(z, z @ n_true)
    np.testing.assert_allclose(jnp.linalg.norm(n), 1.0, rtol=1e-5)
    assert float(jnp.dot(n, n_true)) > 0.95


@both
def test_edit_moves_along_the_normal(jit):
    z = jnp.arange(6.0).reshape(2, 3)
    n = jnp.array([0.0, 1.0, 0.0])
    out = _maybe_jit(latent.edit, jit)(z, n, jnp.array([-1.0, 0.0, 2.0]))
    assert out.shape == (2, 3, 3)
    np.testing.assert_allclose(out[:, 1], z)
    np.testing.assert_allclose(out[:, 2] - z, np.tile([0.0, 2.0, 0.0], (2, 1)))


@both
def test_spearman_matches_scipy_with_ties(jit):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 5, 30).astype(np.float32)
    y = (x + rng.normal(size=30)).astype(np.float32)
    np.testing.assert_allclose(_maybe_jit(latent.rankdata, jit)(x), scipy.stats.rankdata(x))
    np.testing.assert_allclose(_maybe_jit(latent.spearman, jit)(x, y),
                               scipy.stats.spearmanr(x, y).statistic, rtol=1e-5)
    np.testing.assert_allclose(latent.spearman(x, x ** 3), 1.0, rtol=1e-6)


@both
def test_predicted_covariance_matches_sampled_attributes(jit):
    # s = Lambda N^T z with z ~ N(0, I): the sample covariance converges to
    # Lambda N^T N Lambda, and the correlation to N^T N.
    key = jax.random.PRNGKey(1)
    normals = jnp.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.0, 0.0, 1.0]])
    scales = jnp.array([2.0, 0.5, 1.0])
    z = jax.random.normal(key, (20000, 3))
    s = (z @ normals.T) * scales
    pred = _maybe_jit(latent.predicted_covariance, jit)(normals, scales)
    np.testing.assert_allclose(pred, np.cov(np.asarray(s).T), atol=0.05)
    np.testing.assert_allclose(_maybe_jit(latent.correlation_matrix, jit)(s),
                               np.corrcoef(np.asarray(s).T), atol=1e-4)
    np.testing.assert_allclose(latent.cosine_matrix(normals * 3.0)[0, 1], 0.6, rtol=1e-6)


@both
def test_project_out_is_orthogonal_unit_and_in_the_plane(jit):
    n1 = jnp.array([0.6, 0.8, 0.0])
    n2 = jnp.array([0.0, 2.0, 0.0])
    d = _maybe_jit(latent.project_out, jit)(n1, n2)
    np.testing.assert_allclose(d, [1.0, 0.0, 0.0], atol=1e-6)


@both
def test_monotonicity_and_class_kept(jit):
    alphas = jnp.array([-2.0, -1.0, 0.0, 1.0, 2.0])
    # The constant last row has no defined rank correlation and is left out.
    scores = jnp.stack([alphas ** 3, -alphas, jnp.array([0.0, 2.0, 1.0, 3.0, 4.0]), jnp.ones(5)])
    rho = [1.0, -1.0, scipy.stats.spearmanr(np.asarray(alphas), [0.0, 2.0, 1.0, 3.0, 4.0]).statistic]
    np.testing.assert_allclose(_maybe_jit(latent.monotonicity, jit)(scores, alphas), np.mean(rho), rtol=1e-5)
    classes = jnp.array([[1, 1, 1], [2, 3, 2]])
    np.testing.assert_allclose(_maybe_jit(latent.class_kept, jit)(classes, jnp.array([1, 2])), 5 / 6)


def test_interpolation_strips_start_and_end_at_the_endpoint_samples():
    from gan_jax.config.build import init_state
    from gan_jax.config.schema import get_config
    from gan_jax.core.state import apply_generator, sample_latent
    from gan_jax.runs.sampling import interpolation_strips
    config = get_config("digits_cgan", ["model=mlp", "mlp_hidden=8", "mlp_depth=1", "latent_dim=4"])
    state = init_state(config)
    key = jax.random.PRNGKey(3)
    labels = np.array([1, 7])
    strips = interpolation_strips(state, key, 2, 5, "slerp", labels)
    assert strips.shape == (10, 8, 8, 1)
    z = sample_latent(key, 4, 4, state.latent_dist)
    ends, _ = apply_generator(state, state.g_params, z, jnp.array([1, 1, 7, 7]), train=False)
    np.testing.assert_allclose(strips[[0, 4, 5, 9]], ends, atol=1e-5)
