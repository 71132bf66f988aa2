"""Every theory experiment through `gan-jax demo` at a tiny size: its figure,
its results.json (with provenance) and its numbers against closed forms or
theorems where they exist."""

import json
import os

import numpy as np
import pytest
from scipy import integrate, stats

from gan_jax import cli
from gan_jax.cli import demo


def test_demo_list(capsys):
    assert cli.main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    for name in demo.DEMOS:
        assert name in out
        assert os.path.isfile(os.path.join(demo.experiments_dir(), f"{name}.py"))


def test_demo_js_divergence_writes_results_and_figure(tmp_path):
    assert cli.main(["demo", "js_divergence", "--out", str(tmp_path), "--grid", "4001"]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    # KL of unit Gaussians one apart is 1/2 in both directions; Theorem 1 of Goodfellow et al. 2014.
    np.testing.assert_allclose([results["kl_pq"], results["kl_qp"]], 0.5, rtol=1e-4)
    assert results["identity_gap"] < 1e-6
    np.testing.assert_allclose(results["js_bits"], results["js_nats"] / np.log(2), rtol=1e-6)
    np.testing.assert_allclose(results["js_nats"], js_reference(), rtol=1e-5)
    assert (tmp_path / "js_divergence.png").stat().st_size > 0
    assert_provenance(results)


def run_demo(name, out, *options):
    """``gan-jax demo NAME --out OUT OPTIONS``; returns results.json after checking the figure."""
    assert cli.main(["demo", name, "--out", str(out), *options]) == 0
    assert (out / f"{name}.png").stat().st_size > 0
    results = json.loads((out / "results.json").read_text())
    assert_provenance(results)
    return results


def assert_provenance(results):
    assert {"git_commit", "versions", "backend", "prng"} <= set(results["provenance"])


def js_reference():
    """JS(N(0,1) || N(1,1)) in nats by adaptive quadrature of 1/2 KL(p||m) + 1/2 KL(q||m)."""
    p, q = stats.norm(0, 1).pdf, stats.norm(1, 1).pdf

    def integrand(x):
        m = 0.5 * (p(x) + q(x))
        return 0.5 * p(x) * np.log(p(x) / m) + 0.5 * q(x) * np.log(q(x) / m)
    return integrate.quad(integrand, -30, 31, epsabs=1e-13)[0]


def test_demo_optimal_discriminator_approaches_d_star(tmp_path):
    results = run_demo("optimal_discriminator", tmp_path, "--steps", "300", "--batch-size", "128")
    # Theorem 1 of Goodfellow et al. 2014: V(D, G) <= V(D*, G) = -2 log 2 + 2 JS for every D.
    np.testing.assert_allclose(results["minus_2log2_plus_2js"], -2 * np.log(2) + 2 * js_reference(), rtol=1e-6)
    assert results["learned_value"] <= results["minus_2log2_plus_2js"] + 1e-6
    assert results["max_abs_gap_on_-3_4"] < 0.1
    assert 0 <= results["mean_abs_gap_on_-3_4"] <= results["max_abs_gap_on_-3_4"]


def test_demo_saturation_gradients_keep_their_ratios(tmp_path):
    """Per sample, with D = sigmoid(l): |dJ_sat/dx| = 1/2 D |l'|, |dJ_nonsat/dx| = 1/2 (1 - D) |l'|,
    |dJ_ML/dx| = 1/2 D / (1 - D) |l'| >= |dJ_sat/dx|: the ML cost is never less flat than the
    saturating one, and where a trained D rejects the fakes (D ~ 0) only the non-saturating cost
    keeps a gradient."""
    results = run_demo("saturation", tmp_path, "--steps", "300", "--samples", "500")
    below = {name: results[f"fraction_below_1e-3_{name}"]
             for name in ("saturating", "nonsaturating", "maximum_likelihood")}
    median = results["median_abs_gradient"]
    assert below["maximum_likelihood"] <= below["saturating"]
    assert median["maximum_likelihood"] >= median["saturating"]
    assert below["saturating"] > 0.9 and below["nonsaturating"] < 0.05
    assert median["nonsaturating"] > 1e3 * median["saturating"]


def test_demo_naive_vs_k_steps_counts_its_discriminator_steps(tmp_path):
    results = run_demo("naive_vs_k_steps", tmp_path, "--seconds", "0.1", "--eval-every", "5")
    assert results["k1"]["d_steps"] == results["k1"]["g_steps"] > 0
    assert results["k2"]["d_steps"] == 2 * results["k2"]["g_steps"] > 0
    naive = results["naive"]
    assert naive["g_steps"] <= naive["d_steps"] <= 200 * naive["g_steps"]  # max_d_steps=200 per G step
    for method in ("naive", "k1", "k2"):
        assert 0 <= results[method]["best_w1"] <= results[method]["final_w1"] < np.inf


def test_demo_bilinear_game_follows_the_closed_forms(tmp_path):
    """From (1, 1), |v_0| = sqrt 2, after T steps at rate h: simultaneous sqrt2 (1 + h^2)^(T/2),
    extragradient sqrt2 (1 - h^2 + h^4)^(T/2), consensus (gamma = 1) sqrt2 ((1 - h)^2 + h^2)^(T/2);
    alternating keeps x^2 + y^2 - h x y = 2 - h, so its distance stays in
    [sqrt((2 - h) / (1 + h/2)), sqrt((2 - h) / (1 - h/2))]."""
    steps, h = 40, 0.1
    results = run_demo("bilinear_game", tmp_path, "--steps", str(steps), "--lr", str(h), "--gan-steps", "40")
    final = results["final_distance"]
    root2 = np.sqrt(2.0)
    np.testing.assert_allclose(final["simultaneous"], root2 * (1 + h ** 2) ** (steps / 2), rtol=1e-4)
    np.testing.assert_allclose(final["extragradient"], root2 * (1 - h ** 2 + h ** 4) ** (steps / 2), rtol=1e-4)
    np.testing.assert_allclose(final["consensus"], root2 * ((1 - h) ** 2 + h ** 2) ** (steps / 2), rtol=1e-4)
    assert np.sqrt((2 - h) / (1 + h / 2)) - 1e-5 <= final["alternating"] <= np.sqrt((2 - h) / (1 - h / 2)) + 1e-5
    for name in ("gan_simultaneous", "gan_alternating"):
        assert np.isfinite(results[name]["final_g_mean"]) and 0 <= results[name]["final_d_real"] <= 1
    # Averaging: the uniform average of alternating steps is (I - M)^-1 (I - M^(T+1)) v0 / (T + 1).
    m = np.array([[1.0, -h], [h, 1 - h * h]])
    closed = np.linalg.inv(np.eye(2) - m) @ (np.eye(2) - np.linalg.matrix_power(m, steps + 1)) @ np.ones(2)
    averaging = results["averaging"]
    np.testing.assert_allclose(averaging["final_distance_uniform"], np.linalg.norm(closed) / (steps + 1), rtol=1e-4)
    assert averaging["final_distance_raw"] == pytest.approx(final["alternating"])
    assert (tmp_path / "bilinear_averaging.png").stat().st_size > 10_000


@pytest.mark.parametrize("argv,message", [
    (["demo", "no_such_demo"], "unknown demo 'no_such_demo'"),
    (["demo"], "name an experiment"),
])
def test_demo_bad_names(argv, message, capsys):
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


def test_demo_without_experiments_folder(monkeypatch, capsys):
    monkeypatch.setattr(demo.os.path, "isdir", lambda path: False)
    assert cli.main(["demo", "js_divergence"]) == 2
    assert "experiments folder not found" in capsys.readouterr().err
