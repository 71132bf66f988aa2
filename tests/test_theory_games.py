"""Bilinear game methods against their closed forms (see gan_jax.theory.games)."""

import jax
import numpy as np
import pytest

from gan_jax.theory.games import (
    BILINEAR_METHODS,
    simulate_bilinear,
    simulate_bilinear_batch,
)

X0, Y0 = 0.8, -0.6


def _norms(path):
    return np.linalg.norm(np.asarray(path, np.float64), axis=1)


@pytest.mark.parametrize("lr", [0.05, 0.3])
def test_simultaneous_spirals_out_by_sqrt_1_plus_lr2(lr):
    norms = _norms(simulate_bilinear("simultaneous", X0, Y0, lr, 40))
    np.testing.assert_allclose(norms[1:] / norms[:-1], np.sqrt(1 + lr ** 2), rtol=1e-5)


@pytest.mark.parametrize("lr", [0.1, 1.5])
def test_alternating_conserves_skewed_energy_and_stays_bounded(lr):
    path = np.asarray(simulate_bilinear("alternating", X0, Y0, lr, 300), np.float64)
    energy = path[:, 0] ** 2 + path[:, 1] ** 2 - lr * path[:, 0] * path[:, 1]
    np.testing.assert_allclose(energy, X0 ** 2 + Y0 ** 2 - lr * X0 * Y0, rtol=1e-4)
    # The level set of that positive definite form bounds the orbit.
    assert _norms(path).max() < 2.0 * _norms(path)[0] / np.sqrt(1 - lr / 2)


@pytest.mark.parametrize("lr", [0.1, 0.5])
def test_extragradient_shrinks_by_exact_factor(lr):
    norms = _norms(simulate_bilinear("extragradient", X0, Y0, lr, 40))
    np.testing.assert_allclose(norms[1:] / norms[:-1], np.sqrt(1 - lr ** 2 + lr ** 4), rtol=1e-5)


@pytest.mark.parametrize("lr,gamma", [(0.1, 1.0), (0.2, 0.5)])
def test_consensus_factor(lr, gamma):
    norms = _norms(simulate_bilinear("consensus", X0, Y0, lr, 30, gamma=gamma))
    np.testing.assert_allclose(norms[1:] / norms[:-1], np.sqrt((1 - lr * gamma) ** 2 + lr ** 2), rtol=1e-5)


@pytest.mark.parametrize("lr", [0.05, 0.2])
def test_optimistic_matches_two_root_closed_form_and_converges(lr):
    steps = 60
    path = np.asarray(simulate_bilinear("optimistic", X0, Y0, lr, steps), np.float64)
    # w = x + i y obeys w_{t+1} = (1 + 2i lr) w_t - i lr w_{t-1}, w_1 = (1 + i lr) w_0.
    r1, r2 = np.roots([1.0, -(1 + 2j * lr), 1j * lr])
    w0 = X0 + 1j * Y0
    w1 = (1 + 1j * lr) * w0
    a = (w1 - r2 * w0) / (r1 - r2)
    b = w0 - a
    t = np.arange(steps + 1)
    w = a * r1 ** t + b * r2 ** t
    np.testing.assert_allclose(path[:, 0], w.real, atol=1e-5)
    np.testing.assert_allclose(path[:, 1], w.imag, atol=1e-5)
    assert max(abs(r1), abs(r2)) < 1
    assert _norms(path)[-1] < _norms(path)[0]


def test_simulate_under_outer_jit_and_batch_matches_single():
    lrs = np.array([0.1, 0.2, 0.4])
    batch = simulate_bilinear_batch("simultaneous", X0, Y0, lrs, 10)
    assert batch.shape == (3, 11, 2)
    jitted = jax.jit(lambda lr: simulate_bilinear("simultaneous", X0, Y0, lr, 10))
    for i, lr in enumerate(lrs):
        np.testing.assert_allclose(batch[i], simulate_bilinear("simultaneous", X0, Y0, lr, 10), rtol=1e-6)
        np.testing.assert_allclose(jitted(lr), batch[i], rtol=1e-6)
        norms = _norms(batch[i])
        np.testing.assert_allclose(norms[-1] / norms[0], (1 + lr ** 2) ** 5, rtol=1e-5)


@pytest.mark.parametrize("args,match", [
    (("gradient", 1.0, 1.0, 0.1, 5), "unknown method"),
    (("simultaneous", 1.0, 1.0, 0.0, 5), "lr must be > 0"),
    (("simultaneous", 1.0, 1.0, -0.1, 5), "lr must be > 0"),
    (("alternating", 1.0, 1.0, 0.1, 0), "steps must be a positive"),
])
def test_bad_input_raises(args, match):
    with pytest.raises(ValueError, match=match):
        simulate_bilinear(*args)
    with pytest.raises(ValueError):
        simulate_bilinear_batch(*args)


def test_all_methods_listed_run():
    for method in BILINEAR_METHODS:
        assert simulate_bilinear(method, X0, Y0, 0.1, 3).shape == (4, 2)


# ---- averaging the iterates (closed forms in gan_jax.theory.games) ----

from gan_jax.theory.games import (  # noqa: E402
    alternating_matrix,
    average_iterates,
    exponential_average_closed_form,
    exponential_average_factor,
    uniform_average_closed_form,
)


def _energy(v, lr):
    v = np.asarray(v, np.float64)
    return v[..., 0] ** 2 + v[..., 1] ** 2 - lr * v[..., 0] * v[..., 1]


@pytest.mark.parametrize("lr", [0.1, 0.5])
def test_uniform_average_of_alternating_steps_matches_closed_form_and_shrinks_as_one_over_t(lr):
    steps = 2000
    path = simulate_bilinear("alternating", X0, Y0, lr, steps)
    average = average_iterates(path)
    np.testing.assert_allclose(average, uniform_average_closed_form(alternating_matrix(lr), (X0, Y0), steps), atol=2e-4)
    # The rate: ||a_T|| (T + 1) <= ||(I - M)^-1|| (||v_0|| + max_t ||v_t||) for every T.
    bound = np.linalg.norm(np.linalg.inv(np.eye(2) - alternating_matrix(lr)), 2) * (
        _norms(path)[0] + _norms(path).max())
    t = np.arange(steps + 1)
    assert np.all(_norms(average) * (t + 1) <= bound * (1 + 1e-3))
    assert _norms(average)[-1] < 0.01 * _norms(path)[0] / lr
    # The raw iterates do not converge: they stay on the orbit.
    assert _norms(path)[-100:].min() > 0.5 * _norms(path)[0]


@pytest.mark.parametrize("lr,decay", [(0.1, 0.99), (0.3, 0.9)])
def test_exponential_average_matches_closed_form_and_circles_on_a_shrunk_orbit(lr, decay):
    steps = 3000
    path = simulate_bilinear("alternating", X0, Y0, lr, steps)
    average = average_iterates(path, decay)
    np.testing.assert_allclose(average, exponential_average_closed_form(alternating_matrix(lr), decay, (X0, Y0), steps), atol=2e-4)
    # Once decay^t is negligible it circles in the conserved form at rho times the orbit's level.
    rho = exponential_average_factor(lr, decay)
    tail = np.sqrt(_energy(average[-500:], lr) / _energy(np.array([X0, Y0]), lr))
    np.testing.assert_allclose(tail, rho, rtol=1e-3)
    assert 0 < rho < 1


def test_average_iterates_refuses_bad_input():
    with pytest.raises(ValueError, match="decay must be in"):
        average_iterates(np.zeros((3, 2)), 1.0)
    with pytest.raises(ValueError, match="path must be"):
        average_iterates(np.zeros(3))
