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
    issue = script.variant_config("issue_k10")
    assert (issue.lr_g, issue.lr_d, issue.steps, issue.unroll_steps) == (1e-4, 1e-4, 20000, 10)
    # Each plain_k5+X differs from plain_k5 in X's keys only.
    plain = script.config_to_dict(script.variant_config("plain_k5"))
    for name, changes in script.STEPS_TOWARD_NOTEBOOK.items():
        other = script.config_to_dict(script.variant_config(f"plain_k5+{name}"))
        changed = {k for k in plain if plain[k] != other[k]} - {"name"}
        assert changed == {c.split("=")[0] for c in changes}, name


def test_second_invocation_keeps_the_first_ones_rows(tmp_path):
    script = load_experiment("unrolled_ring")
    common = ["--seeds", "0", "1", "--steps", "4", "--set", "batch_size=16", "latent_dim=4", "mlp_hidden=8",
              "steps_per_call=2", "--out", str(tmp_path)]
    script.main(["--variants", "plain_k5"] + common)
    script.main(["--variants", "notebook_k0"] + common)
    saved = json.loads((tmp_path / "results.json").read_text())
    assert list(saved["variants"]) == ["plain_k5", "notebook_k0"]
    for row in saved["variants"].values():
        assert [r["seed"] for r in row["seeds"]] == [0, 1]
        assert all(0 <= r["modes"] <= 8 and 0 <= r["largest_mode_share"] <= r["high_quality"] + 1e-9
                   for r in row["seeds"])
    table = (tmp_path / "table.md").read_text()
    assert "| plain_k5 | 5 | 4 |" in table and "| notebook_k0 | 0 | 4 |" in table
    assert (tmp_path / "samples.png").stat().st_size > 0


def test_bad_input_is_refused_before_training(tmp_path):
    script = load_experiment("unrolled_ring")
    with pytest.raises(UserError, match="--steps 0"):
        script.main(["--variants", "plain_k5", "--steps", "0", "--out", str(tmp_path)])
    with pytest.raises(UserError, match="distinct"):
        script.main(["--variants", "plain_k5", "--seeds", "1", "1", "--out", str(tmp_path)])
    assert not (tmp_path / "results.json").exists()
