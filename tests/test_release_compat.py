"""Run directories written by release 0.1.0 still ``resume``, ``sample`` and ``eval``.

``tests/fixtures/release_0_1`` holds a tiny digits DCGAN run and a tiny 2-seed ring8
sweep written by the 0.1.0 code (its README says how). The on-disk format (run
directories, sweep directories, checkpoints, the best checkpoint) is a promise
that outlives any refactoring of the package, so only the command line is used
here, on a copy: the fixture itself must stay byte for byte as written
(``SHA256SUMS``).
"""

import glob
import hashlib
import json
import os
import shutil

import numpy as np
import pytest
from cli_checks import run_cli

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "release_0_1")
SAVED_STEP, RESUMED_STEP = 4, 6


def _fixture_digests() -> dict:
    """``{relative path: sha256}`` of every file of the fixture's runs, as found now."""
    out = {}
    for run in ("digits_dcgan", "ring8_sweep"):
        for folder, _, files in os.walk(os.path.join(FIXTURE, run)):
            for name in files:
                path = os.path.join(folder, name)
                with open(path, "rb") as f:
                    out[os.path.relpath(path, FIXTURE)] = hashlib.sha256(f.read()).hexdigest()
    return out


def _recorded_digests() -> dict:
    with open(os.path.join(FIXTURE, "SHA256SUMS")) as f:
        return {path: digest for digest, path in (line.split(None, 1) for line in f.read().splitlines())}


def assert_fixture_untouched():
    assert _fixture_digests() == _recorded_digests(), "tests/fixtures/release_0_1 was modified"


def _copy(tmp_path, run: str) -> str:
    """A fresh copy of the fixture's ``run`` under ``tmp_path``."""
    return shutil.copytree(os.path.join(FIXTURE, run), os.path.join(tmp_path, run))


def _checkpoint_steps(run_dir: str) -> list:
    return sorted(int(name) for name in os.listdir(os.path.join(run_dir, "checkpoints")) if name.isdigit())


def _metric_lines(run_dir: str) -> list:
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return f.read().splitlines()


def _sample(capsys, run_dir: str, out: str, *extra, n: int = 16) -> np.ndarray:
    code, _, err = run_cli(capsys, "sample", "--checkpoint", run_dir, "-n", str(n), "--out", out, "--seed", "3",
                           "--no-progress", *extra)
    assert code == 0, err
    samples = np.load(out)["samples"]
    assert samples.shape[0] == n and np.isfinite(samples).all()
    return samples


def _assert_resumed(original: list, run_dir: str):
    """``run_dir`` went on from step SAVED_STEP to RESUMED_STEP: its saved metrics kept, newer ones appended."""
    assert _checkpoint_steps(run_dir)[-1] == RESUMED_STEP
    lines = _metric_lines(run_dir)
    assert lines[:len(original)] == original
    new_steps = [json.loads(line)["step"] for line in lines[len(original):]]
    assert new_steps and all(SAVED_STEP < s <= RESUMED_STEP for s in new_steps) and max(new_steps) == RESUMED_STEP


@pytest.fixture
def classifier_cache(tmp_path, monkeypatch):
    """A fresh ``$GAN_JAX_CACHE`` for ``eval`` on digits, holding the digits classifier when the
    usual cache has one (the suite trains it there once); else ``eval`` trains it here."""
    cache = tmp_path / "cache"
    cache.mkdir()
    usual = os.environ.get("GAN_JAX_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "gan_jax")
    for path in glob.glob(os.path.join(usual, "digits_*.msgpack")):
        shutil.copy(path, cache)
    monkeypatch.setenv("GAN_JAX_CACHE", str(cache))
    return cache


def test_the_fixture_is_as_release_0_1_wrote_it():
    assert_fixture_untouched()
    assert _checkpoint_steps(os.path.join(FIXTURE, "digits_dcgan")) == [2, SAVED_STEP]
    assert os.path.isfile(os.path.join(FIXTURE, "ring8_sweep", "sweep.json"))


def test_a_release_0_1_run_samples_evaluates_and_resumes(tmp_path, capsys, classifier_cache):
    run = _copy(tmp_path, "digits_dcgan")
    original = _metric_lines(run)
    # The run as 0.1.0 left it.
    before = _sample(capsys, run, str(tmp_path / "before.npz"))
    assert before.shape == (16, 8, 8, 1) and np.abs(before).max() <= 1.0
    code, _, err = run_cli(capsys, "eval", run, "-n", "100", "--no-progress")
    assert code == 0, err
    with open(os.path.join(run, "eval.json")) as f:
        scores = json.load(f)["scores"]
    assert scores and all(np.isfinite(v) for v in scores.values())
    # Resumed: two more steps from its latest checkpoint.
    code, _, err = run_cli(capsys, "resume", run, f"steps={RESUMED_STEP}", "--no-progress")
    assert code == 0, err
    _assert_resumed(original, run)
    after = _sample(capsys, run, str(tmp_path / "after.npz"))
    assert after.shape == before.shape and not np.array_equal(after, before)
    assert_fixture_untouched()


def test_a_release_0_1_sweep_resumes_as_a_whole_and_its_seeds_sample(tmp_path, capsys):
    sweep = _copy(tmp_path, "ring8_sweep")
    seeds = [os.path.join(sweep, f"seed_{s}") for s in (0, 1)]
    originals = [_metric_lines(seed) for seed in seeds]
    # A seed as 0.1.0 left it: its latest checkpoint and the best one kept by evaluation.
    before = _sample(capsys, seeds[0], str(tmp_path / "before.npz"))
    assert before.shape == (16, 2)
    best = _sample(capsys, seeds[1], str(tmp_path / "best.npz"), "--best")
    assert best.shape == (16, 2)
    # The sweep directory resumes as a whole.
    code, _, err = run_cli(capsys, "resume", sweep, f"steps={RESUMED_STEP}", "--no-progress")
    assert code == 0, err
    for seed, original in zip(seeds, originals):
        _assert_resumed(original, seed)
    after = _sample(capsys, seeds[0], str(tmp_path / "after.npz"))
    assert after.shape == before.shape and not np.array_equal(after, before)
    assert_fixture_untouched()


def test_a_release_0_1_checkpoint_restores_with_a_generator_average_started_from_its_generator(tmp_path):
    """Checkpoints from before generator averaging have no average in their tree: restored for a
    config that keeps one, the average starts as a copy of the checkpoint's generator."""
    import dataclasses

    import jax

    from gan_jax.config.build import init_state
    from gan_jax.runs.checkpoint import Checkpointer, read_run_config
    run = str(tmp_path / "digits_dcgan")
    shutil.copytree(os.path.join(FIXTURE, "digits_dcgan"), run)
    config = dataclasses.replace(read_run_config(run), g_average_decay=0.999)
    checkpointer = Checkpointer(run)
    try:
        state, _ = checkpointer.restore(jax.eval_shape(lambda: init_state(config)))
    finally:
        checkpointer.close()
    assert int(state.step) == SAVED_STEP and state.g_average_decay == 0.999
    trained_generator = {"params": state.g_params, "batch_stats": state.g_batch_stats}
    for average, trained in zip(jax.tree.leaves(state.g_average), jax.tree.leaves(trained_generator)):
        np.testing.assert_array_equal(average, trained)
