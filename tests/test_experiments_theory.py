"""Smoke tests of the theory experiments and `gan-jax demo` (fast sizes only)."""

import json
import os

import numpy as np
import pytest

from gan_jax import cli
from gan_jax.commands import demo


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
    assert (tmp_path / "js_divergence.png").stat().st_size > 0


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
