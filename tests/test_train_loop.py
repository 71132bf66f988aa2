"""The training loop's quality tracking: scores logged during training, the best
checkpoint kept outside the rotation, the final score beside the baseline."""

import json
import os

import pytest
from tiny_config import TINY_DIGITS, TINY_TOY

from gan_jax.cli import main
from gan_jax.runs.checkpoint import Checkpointer, restore_run
from gan_jax.train.loop import _is_better


def test_better_means_lower_fid_or_more_modes_then_more_quality():
    assert _is_better({"fid": 3.0}, None)
    assert _is_better({"fid": 3.0}, {"fid": 4.0}) and not _is_better({"fid": 5.0}, {"fid": 4.0})
    assert _is_better({"modes": 8, "high_quality": 0.1}, {"modes": 7, "high_quality": 0.9})
    assert _is_better({"modes": 8, "high_quality": 0.5}, {"modes": 8, "high_quality": 0.4})
    assert not _is_better({"modes": 8, "high_quality": 0.4}, {"modes": 8, "high_quality": 0.4})


def _rows(run_dir):
    with open(os.path.join(run_dir, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_digits_run_scores_itself_and_keeps_the_best_checkpoint(tmp_path, capsys):
    args = ["train", "--config", "digits_dcgan", *TINY_DIGITS, "steps=4", "eval_every=2", "eval_samples=64",
            "log_every=2", "checkpoint_every=1", "keep_checkpoints=1", "--runs-dir", str(tmp_path),
            "--name", "r", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    run_dir = str(tmp_path / "r")
    scored = [r for r in _rows(run_dir) if "fid" in r]
    assert [r["step"] for r in scored] == [2, 4] and all(r["fid"] >= 0 and "kid" in r for r in scored)
    best_step = min(scored, key=lambda r: r["fid"])["step"]
    assert Checkpointer(run_dir, best=True).all_steps() == [best_step]
    assert Checkpointer(run_dir).all_steps() == [4]            # the rotation keeps 1; best is apart
    assert "final quality (digits" in out and "real-vs-real baseline: fid" in out
    assert "best fid: " in out and f"at step {best_step}" in out
    _, best = restore_run(run_dir, best=True)
    assert int(best.step) == best_step
    assert main(["sample", "--checkpoint", run_dir, "--best", "-n", "16", "--out", str(tmp_path / "b.png")]) == 0
    assert main(["eval", run_dir, "--best", "-n", "64", "--no-progress"]) == 0
    assert json.load(open(os.path.join(run_dir, "eval_best.json")))["n_generated"] == 64
    # Resuming keeps the best so far: a later, worse score does not replace it.
    assert main(["resume", run_dir, "steps=6", "--no-progress"]) == 0
    scored = [r for r in _rows(run_dir) if "fid" in r]
    assert [r["step"] for r in scored] == [2, 4, 6]
    assert Checkpointer(run_dir, best=True).all_steps() == [min(scored, key=lambda r: r["fid"])["step"]]


def test_a_mixture_run_scores_mode_coverage(tmp_path, capsys):
    assert main(["train", "--config", "ring8", *TINY_TOY, "steps=2", "eval_every=2", "eval_samples=200",
                 "log_every=2", "checkpoint_every=2", "--runs-dir", str(tmp_path), "--name", "r",
                 "--no-progress"]) == 0
    scored = [r for r in _rows(str(tmp_path / "r")) if "modes" in r]
    assert len(scored) == 1 and 0 <= scored[0]["modes"] <= 8 and 0 <= scored[0]["high_quality"] <= 1
    assert "best modes" in capsys.readouterr().out


def test_no_best_checkpoint_without_evaluation(tmp_path):
    assert main(["train", "--config", "gaussian1d", *TINY_TOY, "steps=2", "--runs-dir", str(tmp_path),
                 "--name", "r", "--no-progress"]) == 0
    from gan_jax.errors import UserError
    with pytest.raises(UserError, match="has no best checkpoint"):
        restore_run(str(tmp_path / "r"), best=True)


def test_a_run_records_its_provenance_and_resumes_under_its_prng(tmp_path):
    import jax
    run_dir = str(tmp_path / "r")
    assert main(["train", "--config", "gaussian1d", *TINY_TOY, "steps=2", "checkpoint_every=2", "--runs-dir",
                 str(tmp_path), "--name", "r", "--no-progress"]) == 0
    record = json.load(open(os.path.join(run_dir, "provenance.json")))
    assert {"git_commit", "versions", "backend", "device_kind", "xla_flags", "prng"} <= set(record)
    assert record["prng"]["jax_threefry_partitionable"] == bool(jax.config.jax_threefry_partitionable)
    # A run made under the other PRNG continues under it, and the process's own setting is untouched.
    record["prng"]["jax_threefry_partitionable"] = not record["prng"]["jax_threefry_partitionable"]
    json.dump(record, open(os.path.join(run_dir, "provenance.json"), "w"))
    seen = []
    import gan_jax.train.loop as loop
    original = loop._Run.train

    def spy(*args, **kwargs):
        seen.append(bool(jax.config.jax_threefry_partitionable))
        return original(*args, **kwargs)

    before = bool(jax.config.jax_threefry_partitionable)
    loop._Run.train = spy
    try:
        assert main(["resume", run_dir, "steps=3", "--no-progress"]) == 0
    finally:
        loop._Run.train = original
    assert seen == [record["prng"]["jax_threefry_partitionable"]]
    assert bool(jax.config.jax_threefry_partitionable) == before
    resumed = json.load(open(os.path.join(run_dir, "provenance.json")))
    assert len(resumed["resumes"]) == 1 and resumed["prng"] == record["prng"]
