"""experiments/unrolled_ring.py: the notebook's setting as configs, rows kept across invocations."""

import json

import pytest
from cli_checks import load_experiment

from gan_jax.errors import UserError


def test_the_notebook_setting_is_what_its_docstring_says():
    script = load_experiment("unrolled_ring")
    config = script.variant_config("notebook_k5")
    assert (config.batch_size, config.latent_dim, config.mlp_hidden, config.mlp_depth) == (512, 256, 128, 2)
    assert (config.lr_g, config.lr_d, config.beta1, config.steps, config.unroll_steps) == (1e-3, 1e-4, 0.5, 25000, 5)
    assert (config.mlp_activation, config.mlp_init, config.mlp_init_gain) == ("tanh", "orthogonal", 1.4)
    assert config.unroll_objective == "minimax" and config.unroll_shared_latent and config.simultaneous
    # k = 0: f_0 is the value function, whose gradient in theta_G is the saturating loss's.
    k0 = script.config_to_dict(script.variant_config("notebook_k0"))
    k5 = script.config_to_dict(config)
    assert {k for k in k5 if k5[k] != k0[k]} - {"name"} == {"unroll_steps", "unroll_objective",
                                                          "unroll_shared_latent", "g_loss"}
    assert (k0["g_loss"], k0["unroll_objective"], k0["unroll_shared_latent"]) == ("saturating", "generator", False)
    issue = script.variant_config("issue_k10")
    assert (issue.lr_g, issue.lr_d, issue.steps, issue.unroll_steps) == (1e-4, 1e-4, 20000, 10)
    # Each plain_k5+X differs from plain_k5 in X's keys only.
    plain = script.config_to_dict(script.variant_config("plain_k5"))
    for name, changes in script.STEPS_TOWARD_NOTEBOOK.items():
        other = script.config_to_dict(script.variant_config(f"plain_k5+{name}"))
        changed = {k for k in plain if plain[k] != other[k]} - {"name"}
        assert changed == {c.split("=")[0] for c in changes}, name


def test_an_invocation_keeps_the_rows_of_variants_it_does_not_run(tmp_path):
    script = load_experiment("unrolled_ring")
    earlier = {"config": {"unroll_steps": 0, "steps": 7},
               "seeds": [{"seed": 0, "modes": 8, "high_quality": 0.9, "largest_mode_share": 0.12}],
               "summary": {"modes_mean": 8.0, "modes_std": 0.0, "hq_mean": 90.0, "hq_std": 0.0, "n_seeds": 1},
               "train_seconds": 1.0}
    (tmp_path / "results.json").write_text(json.dumps({"variants": {"notebook_k0": earlier},
                                                       "samples": {"notebook_k0": [[[0.0, 1.0]]]}}))
    script.main(["--variants", "plain_k5", "--seeds", "0", "1", "--steps", "4", "--set", "batch_size=16",
                 "latent_dim=4", "mlp_hidden=8", "steps_per_call=2", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert list(saved["variants"]) == ["notebook_k0", "plain_k5"]
    rows = saved["variants"]["plain_k5"]["seeds"]
    assert [r["seed"] for r in rows] == [0, 1]
    assert all(0 <= r["modes"] <= 8 and 0 <= r["largest_mode_share"] <= r["high_quality"] + 1e-9 for r in rows)
    table = (tmp_path / "table.md").read_text()
    assert "| plain_k5 | 5 | 4 |" in table and "| notebook_k0 | 0 | 7 | 8.0 ± 0.0 | 90.0 ± 0.0 | 12.0 | 0 of 1 |" in table
    assert (tmp_path / "samples.png").stat().st_size > 0


def test_a_collapse_is_one_mode_holding_at_least_half_the_samples():
    script = load_experiment("unrolled_ring")
    assert script.collapsed_onto_one_mode({"modes": 1, "largest_mode_share": 0.62})
    assert not script.collapsed_onto_one_mode({"modes": 1, "largest_mode_share": 0.001})   # failed to learn
    assert not script.collapsed_onto_one_mode({"modes": 3, "largest_mode_share": 0.9})


def test_bad_input_is_refused_before_training(tmp_path):
    script = load_experiment("unrolled_ring")
    with pytest.raises(UserError, match="--steps 0"):
        script.main(["--variants", "plain_k5", "--steps", "0", "--out", str(tmp_path)])
    with pytest.raises(UserError, match="distinct"):
        script.main(["--variants", "plain_k5", "--seeds", "1", "1", "--out", str(tmp_path)])
    # A --set that only a later variant cannot take is refused before the first one trains.
    with pytest.raises(UserError, match="unroll_steps >= 1"):
        script.main(["--variants", "plain_k5", "notebook_k0", "--set", "unroll_shared_latent=true",
                     "--out", str(tmp_path)])
    assert not (tmp_path / "results.json").exists()
