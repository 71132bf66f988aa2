"""The Dirac-GAN lab against the mathematics of Mescheder, Geiger & Nowozin 2018.

Conventions (gan_jax.theory.dirac's docstring): state (theta, psi), equilibrium
(0, 0), field slope a = f'(0) of the library's losses: 1/4 for BCE (the paper's
f'(0) = 1/2 times the tutorial's factor 1/2), 1 for WGAN; x = h^2 a^2.
"""

import numpy as np
import pytest

from gan_jax import cli
from gan_jax.core.objective import GANObjective
from gan_jax.theory.dirac import (
    CONVERGES,
    DIRAC_METHODS,
    DIVERGES,
    NEUTRAL,
    DiracMethod,
    analyse_method,
    dirac_method,
    local_verdict,
    simulate_dirac,
    spectral_radius,
    trajectory_verdict,
    update_displacements,
    update_jacobian,
)
from gan_jax.theory.games import alternating_matrix, average_iterates, exponential_average_factor, uniform_average_closed_form

A_BCE = 0.25
LR = 0.5
START = (0.5, 0.5)          # the lab's common start
STEPS = 600                 # the lab's default number of updates
NEAR = (1e-12, 0.6e-12)     # near the equilibrium: the update is linear there
RATE_STEPS = 3000


def _bce(**options):
    return DiracMethod(GANObjective("bce", "saturating", **options))


def _sorted_eigenvalues(matrix):
    return np.sort_complex(np.linalg.eigvals(matrix))


def _long_run_rate(method, lr):
    """(d_n / d_0)^(1/n) over n = RATE_STEPS updates from NEAR."""
    distances = np.linalg.norm(simulate_dirac(method, lr, NEAR, RATE_STEPS), axis=1)
    return (distances[-1] / distances[0]) ** (1.0 / RATE_STEPS)


def test_simultaneous_gd_grows_by_abs_one_plus_i_h_a():
    # Paper, section 2: the update matrix is I + h [[0, a], [-a, 0]], eigenvalues 1 +- i h a.
    method = DIRAC_METHODS["gan_simultaneous"]
    jacobian = update_jacobian(method, LR)
    np.testing.assert_allclose(jacobian, [[1, LR * A_BCE], [-LR * A_BCE, 1]], atol=1e-12)
    growth = abs(1 + 1j * LR * A_BCE)
    np.testing.assert_allclose(spectral_radius(jacobian), growth, rtol=1e-12)
    assert abs(_long_run_rate(method, LR) - growth) < 1e-3


@pytest.mark.parametrize("name", ["r1", "unrolled", "k_d_steps"])
def test_long_run_rate_equals_the_spectral_radius(name):
    method = DIRAC_METHODS[name]
    radius = spectral_radius(update_jacobian(method, LR))
    assert abs(_long_run_rate(method, LR) - radius) < 1e-3


@pytest.mark.parametrize("gamma", [0.3, 1.0])   # complex (gamma < 2a) and real eigenvalues
def test_r1_continuous_and_discrete_eigenvalues(gamma):
    # Paper, section 3 (zero-centred penalties): J = [[0, a], [-a, -gamma]], eigenvalues
    # (-gamma +- sqrt(gamma^2 - 4 a^2)) / 2; simultaneous GD: M = I + h J.
    continuous = (-gamma + np.array([1, -1]) * np.sqrt(complex(gamma ** 2 - 4 * A_BCE ** 2))) / 2
    jacobian = update_jacobian(_bce(r1_weight=gamma, simultaneous=True), LR)
    np.testing.assert_allclose(_sorted_eigenvalues((jacobian - np.eye(2)) / LR),
                               np.sort_complex(continuous), atol=1e-10)
    np.testing.assert_allclose(_sorted_eigenvalues(jacobian), np.sort_complex(1 + LR * continuous), atol=1e-10)


def test_r1_and_r2_alternating_update_matrix():
    # D first: psi' = (1 - h gamma) psi - h a theta, then theta' = theta + h a psi':
    # det = 1 - h gamma, trace = 2 - h^2 a^2 - h gamma. R2 equals R1 here (D's input
    # gradient is psi on real and fake data alike).
    gamma, x = 1.0, (LR * A_BCE) ** 2
    want = [[1 - x, LR * A_BCE * (1 - LR * gamma)], [-LR * A_BCE, 1 - LR * gamma]]
    for name in ("r1", "r2"):
        jacobian = update_jacobian(DIRAC_METHODS[name], LR)
        np.testing.assert_allclose(jacobian, want, atol=1e-12)
        np.testing.assert_allclose(np.linalg.det(jacobian), 1 - LR * gamma, rtol=1e-12)


def test_rpgan_with_r1_and_r2_jacobian_by_hand():
    """RpGAN + R1 + R2 (Huang et al. 2024), derived by hand.

    D(x) = psi x is 0 on the data (x = 0) and psi theta on the fake, so the pair's
    difference is psi theta and

        L_D = softplus(psi theta) + (g1 / 2) psi^2 + (g2 / 2) psi^2,   L_G = softplus(-psi theta)

    (R1 and R2: D's input gradient is psi on real and fake data alike). Near (0, 0), with
    softplus'(0) = sigmoid(0) = 1/2 =: a (no factor 1/2 in RpGAN, so twice BCE's 1/4) and
    g = g1 + g2:

        dL_D/dpsi   = sigmoid(psi theta) theta + g psi ~ a theta + g psi,
        dL_G/dtheta = -sigmoid(-psi theta) psi         ~ -a psi,

    so the gradient field's Jacobian is J = [[0, a], [-a, -g]], eigenvalues
    (-g +- sqrt(g^2 - 4 a^2)) / 2, real parts < 0 for every g > 0 (locally convergent in
    continuous time, as the paper claims). Alternating GD (D first, then G at the new psi):
    psi' = (1 - h g) psi - h a theta, theta' = theta + h a psi', i.e.

        M = [[1 - h^2 a^2, h a (1 - h g)], [-h a, 1 - h g]],   det 1 - h g, trace 2 - h^2 a^2 - h g.

    At the lab's h = 1/2, a = 1/2, g = 1/2 + 1/2 = 1: M = [[15/16, 1/8], [-1/4, 1/2]],
    eigenvalues (23 +- sqrt(17)) / 32, spectral radius 0.8476 < 1: converges. Since
    D(real) = 0 the losses are twice the non-saturating GAN's (D: 1/2 softplus(psi theta)
    + 1/2 log 2; G: -1/2 log sigmoid(psi theta)), so its update at step h equals the
    non-saturating GAN + R1 + R2's at step 2 h with the weights halved.
    """
    method = DIRAC_METHODS["rpgan_r1_r2"]
    a, g, h = 0.5, method.objective.r1_weight + method.objective.r2_weight, LR
    want = np.array([[1 - (h * a) ** 2, h * a * (1 - h * g)], [-h * a, 1 - h * g]])
    np.testing.assert_allclose(want, [[15 / 16, 1 / 8], [-1 / 4, 1 / 2]], atol=1e-15)   # the numbers above
    jacobian = update_jacobian(method, LR)
    np.testing.assert_allclose(jacobian, want, atol=1e-12)
    np.testing.assert_allclose(_sorted_eigenvalues(jacobian), np.sort((23 + np.array([-1, 1]) * np.sqrt(17)) / 32),
                               atol=1e-12)
    assert local_verdict(spectral_radius(jacobian)) == CONVERGES == method.paper
    # Continuous time: the simultaneous update is I + h J.
    simultaneous = update_jacobian(DiracMethod(GANObjective("rpgan", "rpgan", r1_weight=0.5, r2_weight=0.5,
                                                            simultaneous=True)), LR)
    np.testing.assert_allclose((simultaneous - np.eye(2)) / LR, [[0, a], [-a, -g]], atol=1e-12)
    # The non-saturating GAN + R1 + R2 at twice the step and half the weights: the same update.
    halved = DiracMethod(GANObjective("bce", "nonsaturating", r1_weight=0.25, r2_weight=0.25))
    np.testing.assert_allclose(update_jacobian(halved, 2 * LR), jacobian, atol=1e-12)
    np.testing.assert_allclose(simulate_dirac(halved, 2 * LR, START, 50), simulate_dirac(method, LR, START, 50),
                               atol=1e-12)


def test_consensus_eigenvalues():
    # Consensus optimisation (paper, section 3): J = [[-gamma a^2, a], [-a, -gamma a^2]],
    # eigenvalues -gamma a^2 +- i a; simultaneous GD converges iff
    # |1 + h(-gamma a^2 +- i a)| < 1, i.e. h < 2 gamma / (1 + gamma^2 a^2).
    gamma = 4.0
    method = _bce(consensus_weight=gamma, simultaneous=True)
    continuous = -gamma * A_BCE ** 2 + np.array([1j, -1j]) * A_BCE
    threshold = 2 * gamma / (1 + gamma ** 2 * A_BCE ** 2)
    for lr, verdict in [(0.9 * threshold, CONVERGES), (1.1 * threshold, DIVERGES)]:
        jacobian = update_jacobian(method, lr)
        np.testing.assert_allclose(_sorted_eigenvalues(jacobian), np.sort_complex(1 + lr * continuous), atol=1e-10)
        assert local_verdict(spectral_radius(jacobian)) == verdict


def test_instance_noise_update_within_sampling_error():
    # With noise of std sigma on both inputs of D, D's curvature in psi is
    # c = E[eps_r^2 + eps_f^2] / 8 = sigma^2 / 4 (sigma^2 / 8 if only one input were
    # noised): continuous eigenvalues -c/2 +- sqrt(c^2/4 - a^2), the paper's
    # f''(0) sigma^2 +- sqrt(f''(0)^2 sigma^4 - f'(0)^2) halved. Alternating GD then
    # has R1's update matrix with gamma = c. One update draws 4096 samples of each
    # noise, so c is within 4 standard errors (sqrt(2 / 4096) each) of sigma^2 / 4.
    method = DIRAC_METHODS["instance_noise"]
    sigma, x = method.objective.instance_noise, (LR * A_BCE) ** 2
    jacobian = update_jacobian(method, LR)
    curvature = (1 - jacobian[1, 1]) / LR
    assert abs(curvature - sigma ** 2 / 4) < 4 * np.sqrt(2 / method.batch_size) * sigma ** 2 / 4
    # The rest is R1's matrix up to the noise's sample means, which move psi off 0
    # by about h sigma sqrt(2 / 4096) / 4 = 4e-3 in D's step before G's.
    np.testing.assert_allclose(jacobian, [[1 - x, LR * A_BCE * (1 - LR * curvature)],
                                          [-LR * A_BCE, 1 - LR * curvature]], atol=1e-3)


@pytest.mark.parametrize("name", [n for n, m in DIRAC_METHODS.items() if m.paper])
def test_verdicts_match_the_paper_and_the_trajectory_agrees(name):
    result = analyse_method(name, LR, START, STEPS)
    paper_converges = DIRAC_METHODS[name].paper == CONVERGES
    assert result["converges"] == paper_converges
    if name != "wgan_gp":   # WGAN-GP is judged by its trajectory alone (see gan_jax.theory.dirac)
        assert result["local_verdict"] == result["trajectory_verdict"]


def _alternating_k_steps_threshold(k):
    # M = [[1 - k x, h a], [-k h a, 1]]: det 1, trace 2 - k x; neutral iff k x < 4.
    return 2 / (A_BCE * np.sqrt(k))


@pytest.mark.parametrize("name,threshold,below", [
    ("gan", 2 / A_BCE, NEUTRAL),                                  # h a < 2 (paper, section 2)
    ("k_d_steps", _alternating_k_steps_threshold(5), NEUTRAL),    # h a sqrt(k) < 2
    ("two_time_scale", 2 / (A_BCE * np.sqrt(4.0)), NEUTRAL),      # h_G h_D a^2 = 4 h^2 a^2 < 4
    ("unrolled", 2 / (A_BCE * np.sqrt(4 * 5 + 1)), CONVERGES),   # x < 4 / (4k + 1)
    ("r1", None, CONVERGES),
])
def test_step_size_dependent_verdicts_on_both_sides_of_the_threshold(name, threshold, below):
    method = DIRAC_METHODS[name]
    if threshold is None:
        # Alternating R1 (gamma = 1): det = 1 - h gamma, trace = 2 - x - h gamma; the
        # Schur-Cohn condition 1 + trace + det > 0 fails first: 4 - 2 h gamma - x > 0.
        gamma = method.objective.r1_weight
        threshold = (-2 * gamma + np.sqrt(4 * gamma ** 2 + 16 * A_BCE ** 2)) / (2 * A_BCE ** 2)
    assert local_verdict(spectral_radius(update_jacobian(method, 0.95 * threshold))) == below
    assert local_verdict(spectral_radius(update_jacobian(method, 1.05 * threshold))) == DIVERGES


def test_update_field_of_simultaneous_gd_is_the_gradient_field():
    # One simultaneous update moves (theta, psi) by h v, v = (a(s) psi, -a(s) theta),
    # a(s) = sigmoid(s) / 2, s = psi theta, exactly (not only near the equilibrium).
    points = np.array([[0.5, 0.5], [-1.0, 2.0], [1.5, -0.3], [0.0, 1.0]])
    field = update_displacements(DIRAC_METHODS["gan_simultaneous"], LR, points)
    a = 0.5 / (1 + np.exp(-points[:, 0] * points[:, 1]))
    np.testing.assert_allclose(field, np.stack([a * points[:, 1], -a * points[:, 0]], 1), rtol=1e-12, atol=1e-15)


def test_wgan_clip_update_is_the_unclipped_k_step_matrix():
    # a = 1, k = 5: M = [[1 - 5 h^2, h], [-5 h, 1]], det 1 (neutral for 5 h^2 < 4).
    jacobian = update_jacobian(DIRAC_METHODS["wgan_clip"], LR)
    np.testing.assert_allclose(jacobian, [[1 - 5 * LR ** 2, LR], [-5 * LR, 1]], atol=1e-12)
    assert local_verdict(spectral_radius(jacobian)) == NEUTRAL


def test_verdict_rules():
    assert local_verdict(1 - 2e-9) == CONVERGES
    assert local_verdict(1 + 0.5e-9) == NEUTRAL and local_verdict(1 - 0.5e-9) == NEUTRAL
    assert local_verdict(1 + 2e-9) == DIVERGES
    assert trajectory_verdict([1.0, 0.5, 0.01]) == CONVERGES
    assert trajectory_verdict([1.0, 2.0, 1.0]) == NEUTRAL
    assert trajectory_verdict([1.0, 2.0, 4.0]) == DIVERGES
    assert trajectory_verdict([1.0, np.inf, np.nan]) == DIVERGES


@pytest.mark.parametrize("call,match", [
    (lambda: dirac_method("sgd"), "unknown Dirac-GAN method 'sgd'"),
    (lambda: DiracMethod(GANObjective("hinge", "hinge")), "no closed form for d_loss='hinge'"),
    (lambda: DiracMethod(GANObjective("bce", "wasserstein")), "no closed form"),
    (lambda: update_jacobian(DIRAC_METHODS["gan"], 0.0), "step size must be a positive"),
    (lambda: simulate_dirac(DIRAC_METHODS["gan"], -1.0, START, 5), "step size must be a positive"),
    (lambda: simulate_dirac(DIRAC_METHODS["gan"], LR, START, 0), "number of steps must be a positive"),
])
def test_bad_input_is_a_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("argv,message", [
    (["--methods", "adam"], "unknown Dirac-GAN method 'adam'"),
    (["--lr", "0"], "step size must be a positive"),
    (["--steps", "-3"], "number of steps must be a positive"),
])
def test_demo_bad_input_exits_2_with_one_line(argv, message, tmp_path, capsys):
    assert cli.main(["demo", "dirac_gan", "--out", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err


def test_averaged_dirac_gan_iterates_follow_the_xy_games_closed_forms():
    """Near the equilibrium the Dirac-GAN's alternating update is the xy game's at lr = h a
    (a = 1/4, (theta, psi) = (x, -y)): the uniform average of its iterates converges like
    (I - M)^-1 (I - M^(T+1)) v0 / (T + 1), while the iterates themselves keep circling."""
    start, steps = (0.05, 0.05), 1500
    path = simulate_dirac(DIRAC_METHODS["gan"], LR, start, steps)
    xy = np.asarray(path, np.float64) * np.array([1.0, -1.0])
    average = average_iterates(xy)
    closed = uniform_average_closed_form(alternating_matrix(LR * A_BCE, maximiser_first=True), xy[0], steps)
    np.testing.assert_allclose(average, closed, atol=2e-3 * np.linalg.norm(xy[0]))
    raw_tail = np.linalg.norm(xy[-200:], axis=1).min()
    assert np.linalg.norm(average[-1]) < 0.05 * raw_tail
    rho = exponential_average_factor(LR * A_BCE, 0.99)
    ema_tail = np.linalg.norm(average_iterates(xy, 0.99)[-200:], axis=1).mean()
    assert 0.5 * rho * raw_tail < ema_tail < 2 * rho * np.linalg.norm(xy[-200:], axis=1).max()
