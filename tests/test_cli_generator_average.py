"""The generator average through the command line: sample, the --generator choice, bad decays."""

import os
import shutil

import jax
import numpy as np
import pytest
from cli_checks import assert_one_line_error, run_cli
from tiny_config import TINY_TOY

from gan_jax.core.state import apply_generator, averaged_generator, sample_latent
from gan_jax.runs.checkpoint import restore_run

STEPS = ["steps=4", "log_every=2", "checkpoint_every=4", "eval_every=0"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("average_runs")
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        from gan_jax import cli
        assert cli.main(["train", "--config", "gaussian1d", "--runs-dir", str(root), "--name", "avg",
                         "--no-progress", *TINY_TOY, *STEPS, "g_average_decay=0.5"]) == 0
    # A run without an average: the release fixture's digits run, copied.
    shutil.copytree(os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "release_0_1",
                                 "digits_dcgan"), root / "plain")
    return root


def test_sample_draws_the_average_by_default_and_the_raw_generator_when_asked(runs, tmp_path, capsys):
    run = str(runs / "avg")
    for which in ("auto", "average", "raw"):
        code, _, err = run_cli(capsys, "sample", "--checkpoint", run, "-n", "16", "--seed", "3",
                               "--out", str(tmp_path / f"{which}.npz"), "--generator", which)
        assert code == 0, err
    drawn = {w: np.load(tmp_path / f"{w}.npz")["samples"] for w in ("auto", "average", "raw")}
    _, state = restore_run(run)
    z = sample_latent(jax.random.fold_in(jax.random.PRNGKey(3), 0), 16, state.latent_dim, state.latent_dist)
    averaged = averaged_generator(state)
    np.testing.assert_allclose(drawn["auto"], apply_generator(averaged, averaged.g_params, z, train=False)[0],
                               atol=1e-6)
    np.testing.assert_allclose(drawn["raw"], apply_generator(state, state.g_params, z, train=False)[0], atol=1e-6)
    np.testing.assert_array_equal(drawn["auto"], drawn["average"])
    assert np.max(np.abs(drawn["auto"] - drawn["raw"])) > 1e-4


def test_the_average_of_a_run_without_one_is_one_line(runs, tmp_path, capsys):
    code, _, err = run_cli(capsys, "sample", "--checkpoint", str(runs / "plain"), "-n", "4",
                           "--out", str(tmp_path / "x.npz"), "--generator", "average")
    assert_one_line_error(code, err, "keeps no generator average", "--generator raw")
    assert not (tmp_path / "x.npz").exists()


@pytest.mark.parametrize("decay", ["1.0", "-0.1", "nan", "2"])
def test_a_decay_outside_zero_one_is_one_line(decay, tmp_path, capsys):
    code, _, err = run_cli(capsys, "train", "--config", "gaussian1d", "--runs-dir", str(tmp_path),
                           f"g_average_decay={decay}", *TINY_TOY, *STEPS)
    assert_one_line_error(code, err, "g_average_decay")
    assert not any(tmp_path.iterdir())
