"""experiments/stacked_digits.py: a tiny run writes its table beside the published rows and keeps earlier rows."""

import json

import pytest
from cli_checks import load_experiment

from gan_jax.errors import UserError


def test_a_tiny_run_writes_its_rows_beside_the_published_ones(tmp_path):
    script = load_experiment("stacked_digits")
    kept = {"config": {"steps": 7}, "seeds": [], "train_seconds": 1.0,
            "summary": {"modes_mean": 5.0, "modes_std": 0.0, "kl_mean": 1.0, "kl_std": 0.0, "n_seeds": 1}}
    (tmp_path / "results.json").write_text(json.dumps({"methods": {"dcgan": kept}}))
    script.main(["--methods", "pacgan2_d_quarter", "--seeds", "0", "1", "--samples", "300", "--out", str(tmp_path),
                 "--set", "steps=2", "g_width=4", "d_width=4", "latent_dim=8", "batch_size=16", "eval_every=0",
                 "g_average_decay=0.5"])
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["methods"].pop("dcgan") == kept   # rows of methods not run again are kept
    assert list(saved["methods"]) == ["pacgan2_d_quarter"]
    for row in saved["methods"].values():
        assert [r["seed"] for r in row["seeds"]] == [0, 1]
        for r in row["seeds"]:   # the generator average's scores, and G as trained's under raw_
            for prefix in ("", "raw_"):
                counts = r[prefix + "counts"]
                assert sum(counts) == 300 and r[prefix + "modes"] == sum(c > 0 for c in counts)
        assert row["provenance"]["versions"]["jax"]
    # The real data reach (almost) every mode present in 300 samples and sit near the floor.
    assert saved["real"]["modes"] >= 250 and saved["real"]["samples"] == 300
    table = (tmp_path / "table.md").read_text()
    assert "| pacgan2_d_quarter (ours, average) |" in table and "| pacgan2_d_quarter (ours, as trained) |" in table
    assert "| dcgan (ours) | 7 |" in table
    assert "PacDCGAN2 (PacGAN Table 2)" in table
    assert (tmp_path / "samples_and_modes.png").exists()


def test_bad_override_is_refused_before_training(tmp_path):
    script = load_experiment("stacked_digits")
    with pytest.raises(UserError, match="pack"):
        script.main(["--methods", "dcgan", "--seeds", "0", "--out", str(tmp_path), "--set", "pack=0"])
    # Keys that each pass alone but do not combine: refused before the first method trains.
    with pytest.raises(UserError, match="label_smoothing"):
        script.main(["--methods", "dcgan", "--seeds", "0", "--out", str(tmp_path),
                     "--set", "d_loss=hinge", "label_smoothing=0.1"])
    assert not (tmp_path / "results.json").exists()


def test_best_rpgan_is_the_best_preset_with_only_the_objective_changed():
    import dataclasses
    script = load_experiment("stacked_digits")
    best, rpgan = script.method_config("best"), script.method_config("best_rpgan")
    changed = {k for k, v in dataclasses.asdict(rpgan).items() if v != getattr(best, k)}
    assert changed == {"name", "d_loss", "g_loss", "r1_weight", "r2_weight"}
    assert (rpgan.d_loss, rpgan.g_loss, rpgan.r1_weight, rpgan.r2_weight) == ("rpgan", "rpgan", 1.0, 1.0)
